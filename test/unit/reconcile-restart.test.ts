import { describe, expect, it } from 'vitest';
import { applyDefaults, type DefaultedSpec } from '../../shared/api/index.js';
import { findCondition } from '../../shared/kube/conditions.js';
import { decide, shapeOf, type StepKind } from '../../functions/reconcile/decide.js';
import { pictureOf, type Observation, type PassMemory, type PodInfo } from '../../functions/reconcile/observe.js';
import { roundStatus } from '../../functions/reconcile/report.js';
import { planPods } from '../../functions/reconcile/pods.js';
import { lossMessage, wholeClusterLoss } from '../../functions/reconcile/restart.js';
import { planAddressFixes } from '../../shared/redis/planner/heal.js';
import type { ClusterNodeView, NodeReport } from '../../shared/redis/types.js';
import { buildView } from '../../shared/redis/view.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const spec = (extra: Record<string, unknown> = {}): DefaultedSpec =>
  applyDefaults({ masters: 3, replicas: 1, maxMemory: '64mb', ...extra });

/** Pod `rc-<ordinal>` of shard ordinal/2 at 10.1.0.<ordinal + base>, ready unless told otherwise. */
function pod(s: DefaultedSpec, ordinal: number, o: { ready?: boolean; deleting?: boolean; base?: number } = {}): PodInfo {
  return {
    name: `rc-${ordinal}`,
    ordinal,
    shard: Math.floor(ordinal / 2),
    deleting: o.deleting ?? false,
    ready: o.ready ?? true,
    ip: `10.1.0.${ordinal + (o.base ?? 10)}`,
    port: s.basePort + ordinal,
    busPort: s.basePort + ordinal + 10000,
    createdAt: NOW - 5000,
    layout: 'plain',
  };
}
const podsOf = (s: DefaultedSpec, o: { base?: number } = {}) => [0, 1, 2, 3, 4, 5].map((i) => pod(s, i, o));

function self(p: PodInfo, extra: Partial<ClusterNodeView> = {}): ClusterNodeView {
  return {
    id: `id-${p.name}`,
    ip: p.ip!,
    port: p.port,
    busPort: p.busPort,
    flags: ['myself', 'master'],
    role: 'master',
    pingSent: 0,
    pongReceived: 0,
    configEpoch: 0,
    linkState: 'connected',
    slots: [],
    openSlots: [],
    ...extra,
  };
}

function report(p: PodInfo, nodes: ClusterNodeView[], keys = 0): NodeReport {
  return {
    address: { ip: p.ip!, port: p.port },
    myId: `id-${p.name}`,
    nodes,
    clusterState: 'fail',
    clusterInfo: {},
    replication: {},
    keys,
  };
}

/** A node that came back with nothing: it knows only itself. */
const fresh = (p: PodInfo, keys = 0) => report(p, [self(p)], keys);

/**
 * The nodes back from their nodes.conf at new addresses: each knows itself where it is now, its
 * peers where they were (`old`), masters 0, 2, 4 owning a third of the slots each.
 */
function restarted(now: PodInfo[], old: PodInfo[]): NodeReport[] {
  const line = (p: PodInfo, at: PodInfo, me: boolean): ClusterNodeView => {
    const master = p.ordinal % 2 === 0;
    const third = p.ordinal / 2;
    return self(at, {
      id: `id-${p.name}`,
      flags: [...(me ? ['myself' as const] : []), master ? 'master' : 'slave'],
      role: master ? 'master' : 'replica',
      ...(master ? { slots: [{ start: third * 5461, end: third === 2 ? 16383 : third * 5461 + 5460 }], configEpoch: third + 1 } : {}),
      ...(master ? {} : { masterId: `id-rc-${p.ordinal - 1}` }),
    });
  };
  return now.map((p) =>
    report(
      p,
      now.map((q, i) => line(q, q === p ? q : old[i]!, q === p)),
      10,
    ),
  );
}

function observation(
  s: DefaultedSpec,
  pods: PodInfo[],
  reports: NodeReport[],
  pass: Partial<PassMemory> = {},
  formedBefore = true,
): Observation {
  return {
    spec: s,
    generation: 2,
    observedGeneration: 2,
    formedBefore,
    reshard: { running: false, requested: false },
    startedAt: NOW,
    now: NOW,
    pods,
    pass: { round: 0, taken: new Set<StepKind>(), lease: false, reshardAsked: undefined, canEmit: true, ...pass },
    cluster: pictureOf(pods, buildView(reports)),
  };
}

describe('wholeClusterLoss', () => {
  const s = spec();
  const pods = podsOf(s);

  it('every Pod of a formed cluster back as a fresh node: lost, and blocked until a person allows it', () => {
    const o = observation(
      s,
      pods,
      pods.map((p) => fresh(p)),
    );
    const lost = wholeClusterLoss(o, o.cluster!, pods, 6);
    expect(lost).toEqual({
      message: 'every node restarted without persistence; its data is gone. Set spec.allowDataLoss: true to form an empty cluster',
      formAgain: false,
      blocker: { reason: 'AllNodesLost', message: lost!.message },
    });
  });

  it('with spec.allowDataLoss: formed again, not blocked', () => {
    const allowed = spec({ allowDataLoss: true });
    const o = observation(
      allowed,
      pods,
      pods.map((p) => fresh(p)),
    );
    expect(wholeClusterLoss(o, o.cluster!, pods, 6)).toEqual({ message: lossMessage(allowed), formAgain: true });
    expect(lossMessage(allowed)).toContain('an empty cluster was formed');
  });

  it('with persistence the message says the claims held nothing', () => {
    expect(lossMessage(spec({ persistence: { enabled: true, size: '1Gi' } }))).toMatch(
      /^every node restarted without its data \(its claim held none\)/,
    );
  });

  it('is not a loss while anything may still hold data or the picture is incomplete', () => {
    const cases: [string, Observation][] = [
      [
        'a new cluster',
        observation(
          s,
          pods,
          pods.map((p) => fresh(p)),
          {},
          false,
        ),
      ],
      [
        'a Pod not ready',
        observation(
          s,
          [pod(s, 0, { ready: false }), ...pods.slice(1)],
          pods.map((p) => fresh(p)),
        ),
      ],
      [
        'a Pod not answering',
        observation(
          s,
          pods,
          pods.slice(1).map((p) => fresh(p)),
        ),
      ],
      [
        'an old Pod still terminating',
        observation(
          s,
          [...pods, pod(s, 6, { deleting: true })],
          pods.map((p) => fresh(p)),
        ),
      ],
      ['a node holding keys', observation(s, pods, [fresh(pods[0]!, 3), ...pods.slice(1).map((p) => fresh(p))])],
      ['nodes back from nodes.conf', observation(s, pods, restarted(pods, podsOf(s, { base: 100 })))],
      [
        'a Pod missing',
        observation(
          s,
          pods.slice(1),
          pods.slice(1).map((p) => fresh(p)),
        ),
      ],
    ];
    for (const [what, o] of cases) {
      const wanted = o.pods.filter((p) => !p.deleting);
      expect(wholeClusterLoss(o, o.cluster!, wanted, 6), what).toBeUndefined();
    }
  });
});

describe('decide and report after every Pod was deleted at once', () => {
  it('without persistence or allowDataLoss: blocked before the Lease; Degraded with DataLoss AllNodesLost', () => {
    const s = spec();
    const pods = podsOf(s);
    const o = observation(
      s,
      pods,
      pods.map((p) => fresh(p)),
    );
    const step = decide(o);
    expect(step).toEqual({ kind: 'blocked', blocker: { reason: 'AllNodesLost', message: lossMessage(s) } });
    const status = roundStatus(
      undefined,
      { ...o, cluster: o.cluster! },
      shapeOf(o, o.cluster!),
      { actions: [], problems: [] },
      false,
      'rc',
    );
    expect(status.phase).toBe('Degraded');
    expect(findCondition(status.conditions, 'Ready')).toMatchObject({ status: 'False', reason: 'AllNodesLost', message: lossMessage(s) });
    expect(findCondition(status.conditions, 'DataLoss')).toMatchObject({ status: 'True', reason: 'AllNodesLost', message: lossMessage(s) });
  });

  it('with allowDataLoss: the Lease, then the same create as a new cluster, carrying what was lost', () => {
    const s = spec({ allowDataLoss: true });
    const pods = podsOf(s);
    const reports = pods.map((p) => fresh(p));
    expect(decide(observation(s, pods, reports)).kind).toBe('take-lease');
    const step = decide(observation(s, pods, reports, { lease: true }));
    expect(step).toMatchObject({
      kind: 'form',
      masters: 3,
      replicas: 1,
      lost: lossMessage(s),
      plan: {
        masters: [{ node: 'rc-0' }, { node: 'rc-2' }, { node: 'rc-4' }],
        replicas: [
          { node: 'rc-1', masterNode: 'rc-0' },
          { node: 'rc-3', masterNode: 'rc-2' },
          { node: 'rc-5', masterNode: 'rc-4' },
        ],
      },
    });
  });

  it('the DataLoss condition stays once the empty cluster is formed', () => {
    const s = spec({ allowDataLoss: true });
    const pods = podsOf(s);
    const o = observation(s, pods, restarted(pods, pods));
    const status = roundStatus(
      undefined,
      { ...o, cluster: o.cluster! },
      shapeOf(o, o.cluster!),
      { actions: [], problems: [], lost: lossMessage(s) },
      false,
      'rc',
    );
    expect(findCondition(status.conditions, 'DataLoss')).toMatchObject({ status: 'True', reason: 'AllNodesLost' });
    const later = roundStatus(status, { ...o, cluster: o.cluster! }, shapeOf(o, o.cluster!), { actions: [], problems: [] }, false, 'rc');
    expect(findCondition(later.conditions, 'DataLoss')).toEqual(findCondition(status.conditions, 'DataLoss'));
  });

  it('with persistence at new addresses: not lost; heal re-meets every node at its new address', () => {
    const s = spec({ persistence: { enabled: true, size: '1Gi' } });
    const pods = podsOf(s);
    const reports = restarted(pods, podsOf(s, { base: 100 }));
    const o = observation(s, pods, reports, { lease: true });
    const step = decide(o);
    expect(step.kind).toBe('heal');
    expect(step.kind === 'heal' && step.nodes.map((n) => n.ip)).toEqual(pods.map((p) => p.ip));
    const meets = planAddressFixes(reports, step.kind === 'heal' ? step.nodes : []);
    // Each node meets each other one at its new address: every id's address is fixed everywhere.
    expect(meets).toHaveLength(30);
    expect(new Set(meets.map((m) => `${m.fromId}>${m.toId}`)).size).toBe(30);
    for (const m of meets) expect(m.to.ip).toBe(pods.find((p) => `id-${p.name}` === m.toId)!.ip);
  });
});

describe('planPods: every Pod gone, the claims kept (persistence)', () => {
  const none = { slotHolders: new Set<string>(), masters: new Set<string>() };
  // Shard 1 was drained by a scale-in after a scale-out added shard 3 at ordinals 6 and 7.
  const claims = [
    { ordinal: 0, shard: 0 },
    { ordinal: 1, shard: 0 },
    { ordinal: 4, shard: 2 },
    { ordinal: 5, shard: 2 },
    { ordinal: 6, shard: 3 },
    { ordinal: 7, shard: 3 },
  ];

  it("creates each Pod on its node's claim, in the claim's shard", () => {
    const plan = planPods({ masters: 3, replicas: 1, pods: [], roles: none, formed: true, claims });
    expect(plan.shards).toEqual([0, 2, 3]);
    expect(plan.create).toEqual(claims);
  });

  it("without the claims the Pods would take ordinals 0-5 and leave shard 3's nodes on unused claims", () => {
    const plan = planPods({ masters: 3, replicas: 1, pods: [], roles: none, formed: true });
    expect(plan.create.map((c) => c.ordinal)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('a new Pod of another shard never takes a claimed ordinal; claims without a shard label are not reserved', () => {
    const pods = [
      { name: 'rc-0', ordinal: 0, shard: 0, deleting: false },
      { name: 'rc-4', ordinal: 4, shard: 2, deleting: false },
    ];
    const plan = planPods({
      masters: 3,
      replicas: 1,
      pods,
      roles: none,
      formed: true,
      claims: [{ ordinal: 1, shard: 2 }, { ordinal: 2 }, { ordinal: 0, shard: 0 }],
    });
    // Shard 0 gets ordinal 2 (unlabelled, so free), shard 1 both its Pods past the claims, shard 2 its claim.
    expect(plan.create).toEqual([
      { ordinal: 2, shard: 0 },
      { ordinal: 3, shard: 1 },
      { ordinal: 5, shard: 1 },
      { ordinal: 1, shard: 2 },
    ]);
  });

  it('decide creates the Pods on the claims the observation lists', () => {
    const s = spec({ persistence: { enabled: true, size: '1Gi' } });
    const claimInfo = claims.map((c) => ({ ...c, name: `rc-${c.ordinal}-data`, storage: '1Gi' }));
    const o = { ...observation(s, [], []), claims: claimInfo };
    expect(decide(o)).toEqual({ kind: 'create-pods', pods: claims, tls: { layout: 'plain' }, conf: { files: false, bus: false } });
  });
});
