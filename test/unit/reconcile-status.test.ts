import { describe, expect, it } from 'vitest';
import { computeStatus, isReady, nodeStatuses, statusChanged, type StatusFacts } from '../../functions/reconcile/status.js';
import { buildView } from '../../shared/redis/view.js';
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { NodeReport } from '../../shared/redis/types.js';

const id = (c: string) => c.repeat(40);
const [A, B, C, D, E, F] = ['a', 'b', 'c', 'd', 'e', 'f'].map(id) as [string, string, string, string, string, string];
const ip = '127.0.0.2';

/** CLUSTER NODES of a 3x1 cluster as node `me` prints it; `dead` nodes are flagged fail and do not answer. */
function nodesText(me: string, dead: Set<string>, slotsOfA = '0-5460'): string {
  const rows: [string, number, string, string, string][] = [
    [A, 10000, 'master', '-', slotsOfA],
    [B, 10001, 'slave', A, ''],
    [C, 10002, 'master', '-', '5461-10922'],
    [D, 10003, 'slave', C, ''],
    [E, 10004, 'master', '-', '10923-16383'],
    [F, 10005, 'slave', E, ''],
  ];
  return rows
    .map(([n, port, role, master, slots]) => {
      const flags = [n === me ? 'myself' : '', role, dead.has(n) ? 'fail' : ''].filter(Boolean).join(',');
      return `${n} ${ip}:${port}@${port + 10000} ${flags} ${master} 0 0 1 connected ${slots}`.trim();
    })
    .join('\n');
}

function view(dead = new Set<string>()) {
  const reports: NodeReport[] = [A, B, C, D, E, F]
    .filter((n) => !dead.has(n))
    .map((n, i) => ({
      address: { ip, port: 10000 + [A, B, C, D, E, F].indexOf(n) },
      myId: n,
      nodes: parseClusterNodes(nodesText(n, dead)),
      clusterState: 'ok',
      clusterInfo: {},
      replication: {},
      keys: i,
    }));
  return buildView(reports);
}

const pods = new Map([0, 1, 2, 3, 4, 5].map((i) => [`${ip}:${10000 + i}`, `rc-${i}`]));

function obs(over: Partial<StatusFacts> = {}): StatusFacts {
  return {
    clusterName: 'rc',
    generation: 2,
    formed: true,
    podsWanted: 6,
    podsReady: 6,
    view: view(),
    podByEndpoint: pods,
    masters: 3,
    replicasPerMaster: 1,
    problems: [],
    resharding: false,
    scaling: false,
    ...over,
  };
}

const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');

describe('status', () => {
  it('lists every node with its Pod, role, master and slot ranges', () => {
    const nodes = nodeStatuses(view(), pods);
    expect(nodes).toHaveLength(6);
    expect(nodes[0]).toEqual({ id: A, pod: 'rc-0', ip, port: 10000, role: 'master', slots: ['0-5460'] });
    expect(nodes[1]).toEqual({ id: B, pod: 'rc-1', ip, port: 10001, role: 'replica', masterId: A });
  });

  it('a healthy cluster is Ready with the /scale fields', () => {
    const s = computeStatus(undefined, obs(), T0);
    expect(s.phase).toBe('Ready');
    expect(isReady(s)).toBe(true);
    expect(s).toMatchObject({ observedGeneration: 2, readyMasters: 3, readyReplicas: 3, replicas: 3 });
    expect(s.selector).toBe('app.kubernetes.io/name=redis-cluster,redis.redis/cluster=rc');
    const types = Object.fromEntries(s.conditions!.map((c) => [c.type, c.status]));
    expect(types).toEqual({ Ready: 'True', Progressing: 'False', SlotsAssigned: 'True', Degraded: 'False' });
  });

  it('is unchanged when nothing changed, so no status write follows', () => {
    const first = computeStatus(undefined, obs(), T0);
    const again = computeStatus(first, obs(), T1);
    expect(statusChanged(first, again)).toBe(false);
    expect(again.conditions![0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });

  it('a rolling update is Updating with its progress, unless slots go unserved', () => {
    const ready = computeStatus(undefined, obs(), T0);
    const s = computeStatus(ready, obs({ updating: '2/6 Pods run the current spec', podsReady: 5 }), T1);
    expect(s.phase).toBe('Updating');
    expect(s.conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Updating',
      message: '2/6 Pods run the current spec',
    });
    expect(s.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'Updating' });
    const lost = computeStatus(
      ready,
      obs({ updating: '2/6', view: view(new Set([A])), problems: [{ code: 'node-failing', nodeId: A, message: 'down' }] }),
      T1,
    );
    expect(lost.phase).toBe('Degraded');
  });

  it('a paused cluster says Paused, Ready as its nodes are', () => {
    const s = computeStatus(undefined, obs({ paused: true }), T0);
    expect(s.phase).toBe('Paused');
    expect(isReady(s)).toBe(true);
    expect(s.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
    const missing = computeStatus(undefined, obs({ paused: true, podsReady: 5 }), T0);
    expect(missing.conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Paused',
      message: '5/6 Pods ready',
    });
    const unformed = computeStatus(undefined, obs({ paused: true, formed: false, view: undefined, podsReady: 2 }), T0);
    expect(unformed.phase).toBe('Paused');
    expect(unformed.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False', reason: 'Paused' });
  });

  it('a dead master is Degraded, with the problem in the Ready condition', () => {
    const ready = computeStatus(undefined, obs(), T0);
    const s = computeStatus(ready, obs({ view: view(new Set([A])), problems: [{ code: 'node-failing', nodeId: A, message: 'down' }] }), T1);
    expect(s.phase).toBe('Degraded');
    expect(isReady(s)).toBe(false);
    expect(s.readyMasters).toBe(2);
    const readyCond = s.conditions!.find((c) => c.type === 'Ready')!;
    expect(readyCond.message).toContain('node-failing');
    expect(readyCond.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
    expect(s.conditions!.find((c) => c.type === 'Degraded')!.status).toBe('True');
    expect(statusChanged(ready, s)).toBe(true);
  });

  it('a lost shard: its slots count as unassigned though the gone master still claims them', () => {
    const lost = {
      code: 'slots-uncovered' as const,
      slot: 0,
      message: '5461 slots (0-5460) have no live master or replica; ... needs allowDataLoss',
    };
    const s = computeStatus(undefined, obs({ view: view(new Set([A, B])), problems: [lost] }), T0);
    expect(s.phase).toBe('Degraded');
    const assigned = s.conditions!.find((c) => c.type === 'SlotsAssigned')!;
    expect(assigned).toMatchObject({ status: 'False', reason: 'SlotsUncovered', message: lost.message });
    expect(s.conditions!.find((c) => c.type === 'Ready')!.message).toContain('slots-uncovered');
  });

  it('Creating before formation, Scaling and Resharding while the counts change, Failed when blocked', () => {
    expect(computeStatus(undefined, obs({ formed: false, view: undefined, podsReady: 2 }), T0).phase).toBe('Creating');
    expect(computeStatus(undefined, obs({ podsWanted: 9, scaling: true }), T0).phase).toBe('Scaling');
    expect(computeStatus(undefined, obs({ podsWanted: 9 }), T0).phase).toBe('Healing');
    expect(computeStatus(undefined, obs({ masters: 4, resharding: true }), T0).phase).toBe('Resharding');
    const blocked = computeStatus(
      undefined,
      obs({ formed: false, view: undefined, blocker: { reason: 'SecretMissing', message: 'Secret pw not found' } }),
      T0,
    );
    expect(blocked.phase).toBe('Failed');
    expect(blocked.conditions!.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'SecretMissing',
      message: 'Secret pw not found',
    });
  });
});
