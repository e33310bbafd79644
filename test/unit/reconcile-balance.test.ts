import { describe, expect, it } from 'vitest';
import { applyDefaults, type DefaultedSpec } from '../../shared/api/index.js';
import { decide, type StepKind } from '../../functions/reconcile/decide.js';
import { restartHash } from '../../functions/reconcile/resources.js';
import { pictureOf, type Observation, type PassMemory, type PodInfo } from '../../functions/reconcile/observe.js';
import type { ClusterNodeView, NodeReport } from '../../shared/redis/types.js';
import { buildView } from '../../shared/redis/view.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const MACHINES = ['node-a', 'node-b', 'node-c'];
const spec = (extra: Record<string, unknown> = {}): DefaultedSpec =>
  applyDefaults({ masters: 3, replicas: 1, maxMemory: '64mb', ...extra });

/** Pod `rc-<ordinal>` of shard ordinal/2 on machine `machine` (an index into MACHINES), at that machine's address. */
function pod(s: DefaultedSpec, ordinal: number, machine: number, o: { ready?: boolean; deleting?: boolean } = {}): PodInfo {
  return {
    name: `rc-${ordinal}`,
    ordinal,
    shard: Math.floor(ordinal / 2),
    deleting: o.deleting ?? false,
    ready: o.ready ?? true,
    ip: `127.0.0.${machine + 2}`,
    node: MACHINES[machine]!,
    port: s.basePort + ordinal,
    busPort: s.basePort + ordinal + 10000,
    createdAt: NOW - 600_000,
    layout: 'plain',
    restartHash: restartHash(s),
  };
}

/**
 * Every node's report of one view. `masters` names the Pod that is master of each shard (the other
 * Pod of the shard is its replica); shard k owns slots k*5461..
 */
function reports(pods: PodInfo[], masters: string[]): NodeReport[] {
  const id = (p: PodInfo) => `id-${p.name}`;
  const masterOf = (p: PodInfo) => pods.find((m) => m.name === masters[p.shard!])!;
  const line = (p: PodInfo, self: boolean): ClusterNodeView => {
    const master = masterOf(p) === p;
    const start = p.shard! * 5461;
    return {
      id: id(p),
      ip: p.ip!,
      port: p.port,
      busPort: p.busPort,
      flags: [...(self ? (['myself'] as const) : []), master ? 'master' : 'slave'],
      role: master ? 'master' : 'replica',
      ...(master ? {} : { masterId: id(masterOf(p)) }),
      pingSent: 0,
      pongReceived: 0,
      configEpoch: p.ordinal + 1,
      linkState: 'connected',
      slots: master ? [{ start, end: p.shard === 2 ? 16383 : start + 5460 }] : [],
      openSlots: [],
    };
  };
  return pods.map((p): NodeReport => ({
    address: { ip: p.ip!, port: p.port },
    myId: id(p),
    nodes: pods.map((v) => line(v, v === p)),
    clusterState: 'ok',
    clusterInfo: {},
    replication:
      masterOf(p) === p
        ? { role: 'master', master_repl_offset: '100' }
        : { role: 'slave', master_link_status: 'up', master_sync_in_progress: '0', slave_repl_offset: '100' },
    keys: 10,
  }));
}

function observation(
  s: DefaultedSpec,
  pods: PodInfo[],
  masters: string[],
  pass: Partial<PassMemory> = {},
  reshard: { running?: boolean; requested?: boolean } = {},
): Observation {
  return {
    spec: s,
    generation: 1,
    observedGeneration: 1,
    formedBefore: true,
    reshard: { running: false, requested: false, ...reshard },
    startedAt: NOW,
    now: NOW,
    pods,
    pass: { round: 0, taken: new Set(), lease: false, reshardAsked: undefined, canEmit: true, ...pass },
    cluster: pictureOf(pods, buildView(reports(pods, masters))),
  };
}

const withLease = (taken: StepKind[]): Partial<PassMemory> => ({ lease: true, taken: new Set(taken) });
/** What a round of a formed cluster does before it looks at the masters' spread. */
const maintained: StepKind[] = ['heal', 'apply-settings', 'place'];

describe('decide: primary balance', () => {
  const s = spec();
  // Shard k: rc-2k on machine k, rc-2k+1 on machine k+1: one master per machine when the even
  // ordinals are masters.
  const pods = [pod(s, 0, 0), pod(s, 1, 1), pod(s, 2, 1), pod(s, 3, 2), pod(s, 4, 2), pod(s, 5, 0)];
  const spread = ['rc-0', 'rc-2', 'rc-4'];
  // rc-5 (node-a) took over shard 2: node-a holds two masters, node-c none.
  const piled = ['rc-0', 'rc-2', 'rc-5'];

  it('leaves masters that are spread alone: in shape, no Lease', () => {
    expect(decide(observation(s, pods, spread)).kind).toBe('in-shape');
    expect(decide(observation(s, pods, spread, withLease(maintained))).kind).toBe('round-done');
  });

  it('takes the Lease for masters piled on one machine, then moves one back with a graceful failover', () => {
    expect(decide(observation(s, pods, piled)).kind).toBe('take-lease');
    expect(decide(observation(s, pods, piled, withLease(['heal', 'apply-settings']))).kind).toBe('place');
    const step = decide(observation(s, pods, piled, withLease(maintained)));
    expect(step).toEqual({
      kind: 'move-primary',
      replica: { ip: '127.0.0.4', port: s.basePort + 4 },
      endpoints: pods.map((p) => ({ ip: p.ip, port: p.port })),
      message: 'rc-4 on node-c took over from master rc-5 on node-a: node-a held 2 of 3 masters and node-c 0',
    });
  });

  it('moves at most one master a round', () => {
    expect(decide(observation(s, pods, piled, withLease([...maintained, 'move-primary']))).kind).toBe('round-done');
  });

  it('moves nothing while a reshard is requested or running', () => {
    expect(decide(observation(s, pods, piled, withLease(maintained), { requested: true })).kind).toBe('round-done');
    expect(decide(observation(s, pods, piled, withLease(maintained), { running: true })).kind).toBe('round-done');
  });

  it('moves nothing while a Pod is not ready or being deleted', () => {
    for (const o of [{ ready: false }, { deleting: true }]) {
      const changed = [...pods.slice(0, 5), pod(s, 5, 0, o)];
      expect(decide(observation(s, changed, piled, withLease(maintained))).kind).not.toBe('move-primary');
    }
  });

  it('moves nothing when the machines are not known', () => {
    const unknown = pods.map(({ node: _node, ...p }) => p);
    expect(decide(observation(spec({ hostNetwork: false }), unknown, piled, withLease(maintained))).kind).toBe('round-done');
  });

  it('with the host network, a Pod whose node name is not known is at its address', () => {
    const unnamed = pods.map(({ node: _node, ...p }) => p);
    const step = decide(observation(s, unnamed, piled, withLease(maintained)));
    expect(step.kind === 'move-primary' && step.message).toBe(
      'rc-4 on 127.0.0.4 took over from master rc-5 on 127.0.0.2: 127.0.0.2 held 2 of 3 masters and 127.0.0.4 0',
    );
  });
});
