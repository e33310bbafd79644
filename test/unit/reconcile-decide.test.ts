import { describe, expect, it } from 'vitest';
import { applyDefaults, type DefaultedSpec } from '../../shared/api/index.js';
import { decide, placement, reshardMayHoldLease, shardCreatePlan, type StepKind } from '../../functions/reconcile/decide.js';
import { pictureOf, type Observation, type PassMemory, type PodInfo } from '../../functions/reconcile/observe.js';
import type { Blocker } from '../../functions/reconcile/status.js';
import { restartHash } from '../../functions/reconcile/resources.js';
import type { ClusterNodeView, NodeReport, SlotRange } from '../../shared/redis/types.js';
import { buildView } from '../../shared/redis/view.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const spec = (masters: number, replicas = 1, extra: Record<string, unknown> = {}): DefaultedSpec =>
  applyDefaults({ masters, replicas, maxMemory: '64mb', ...extra });

interface PodOpts {
  ready?: boolean;
  ip?: boolean;
  ageMs?: number;
  deleting?: boolean;
  unschedulable?: string;
}

/** A Pod `rc-<ordinal>` of shard `shard`, running and ready unless told otherwise. */
function pod(s: DefaultedSpec, ordinal: number, shard: number, o: PodOpts = {}): PodInfo {
  const p: PodInfo = {
    name: `rc-${ordinal}`,
    ordinal,
    shard,
    deleting: o.deleting ?? false,
    ready: o.ready ?? true,
    port: s.basePort + ordinal,
    busPort: s.basePort + ordinal + 10000,
    createdAt: NOW - (o.ageMs ?? 600_000),
    layout: 'plain',
    restartHash: restartHash(s),
  };
  if (o.ip ?? true) p.ip = '10.0.0.1';
  if (o.unschedulable) p.unschedulable = o.unschedulable;
  return p;
}

/** Pods 2k and 2k+1 in shard k, for `shards` shards. */
const podsOf = (s: DefaultedSpec, shards: number[], o: PodOpts = {}) =>
  shards.flatMap((k) => [pod(s, 2 * k, k, o), pod(s, 2 * k + 1, k, o)]);

interface NodeSpec {
  pod: PodInfo;
  role: 'master' | 'replica';
  /** The master's Pod, for a replica. */
  of?: PodInfo;
  slots?: SlotRange[];
}

const idOf = (p: PodInfo) => `id-${p.name}`;

function line(n: NodeSpec, self: boolean): ClusterNodeView {
  return {
    id: idOf(n.pod),
    ip: n.pod.ip!,
    port: n.pod.port,
    busPort: n.pod.busPort,
    flags: [...(self ? (['myself'] as const) : []), n.role === 'master' ? 'master' : 'slave'],
    role: n.role,
    ...(n.of ? { masterId: idOf(n.of) } : {}),
    pingSent: 0,
    pongReceived: 0,
    configEpoch: n.slots?.length ? n.pod.ordinal + 1 : 0,
    linkState: 'connected',
    slots: n.slots ?? [],
    openSlots: [],
  };
}

/** Every joined node reports the same view; a fresh node reports only itself. */
function reports(joined: NodeSpec[], fresh: PodInfo[] = []): NodeReport[] {
  const report = (n: NodeSpec, view: NodeSpec[]): NodeReport => ({
    address: { ip: n.pod.ip!, port: n.pod.port },
    myId: idOf(n.pod),
    nodes: view.map((v) => line(v, v === n)),
    clusterState: 'ok',
    clusterInfo: {},
    replication:
      n.role === 'replica'
        ? { role: 'slave', master_link_status: 'up', master_sync_in_progress: '0', slave_repl_offset: '100' }
        : { role: 'master', master_repl_offset: '100' },
    keys: n.slots?.length ? 10 : 0,
  });
  return [...joined.map((n) => report(n, joined)), ...fresh.map((p) => report({ pod: p, role: 'master' }, [{ pod: p, role: 'master' }]))];
}

/** Shards of master 2k and replica 2k+1, the slots split evenly over the first `owners` of them. */
function formedNodes(pods: PodInfo[], shards: number[], owners = shards.length): NodeSpec[] {
  const size = Math.floor(16384 / owners);
  return shards.flatMap((k, i) => {
    const master = pods.find((p) => p.name === `rc-${2 * k}`)!;
    const replica = pods.find((p) => p.name === `rc-${2 * k + 1}`);
    const slots = i < owners ? [{ start: i * size, end: i === owners - 1 ? 16383 : (i + 1) * size - 1 }] : [];
    return [{ pod: master, role: 'master' as const, slots }, ...(replica ? [{ pod: replica, role: 'replica' as const, of: master }] : [])];
  });
}

interface ObsOpts {
  spec: DefaultedSpec;
  pods: PodInfo[];
  reports?: NodeReport[];
  formedBefore?: boolean;
  generation?: number;
  observedGeneration?: number;
  reshard?: { running?: boolean; requested?: boolean };
  leaseHolder?: string;
  pass?: Partial<PassMemory>;
  secretBlocker?: Blocker;
  passwordHash?: string;
  auth?: Observation['auth'];
}

function observation(o: ObsOpts): Observation {
  const pass: PassMemory = { round: 0, taken: new Set(), lease: false, reshardAsked: undefined, canEmit: true, ...o.pass };
  return {
    spec: o.spec,
    generation: o.generation ?? 1,
    observedGeneration: o.observedGeneration ?? 1,
    formedBefore: o.formedBefore ?? false,
    reshard: { running: false, requested: false, ...o.reshard },
    ...(o.secretBlocker ? { secretBlocker: o.secretBlocker } : {}),
    ...(o.passwordHash ? { passwordHash: o.passwordHash } : {}),
    ...(o.auth ? { auth: o.auth } : {}),
    startedAt: NOW,
    now: NOW,
    pods: o.pods,
    pass,
    ...(o.leaseHolder !== undefined ? { leaseHolder: o.leaseHolder } : { cluster: pictureOf(o.pods, buildView(o.reports ?? [])) }),
  };
}

const withLease = (taken: StepKind[] = []): Partial<PassMemory> => ({ lease: true, taken: new Set(taken) });
/** The steps a formed cluster's round takes before it looks at the masters. */
const maintained: StepKind[] = ['heal', 'apply-settings', 'place'];

describe('decide: creation', () => {
  const s = spec(3);

  it('creates every Pod of a new cluster', () => {
    const step = decide(observation({ spec: s, pods: [] }));
    expect(step).toEqual({
      kind: 'create-pods',
      pods: [0, 1, 2, 3, 4, 5].map((ordinal) => ({ ordinal, shard: Math.floor(ordinal / 2) })),
      tls: { layout: 'plain' },
      conf: { files: false, bus: false },
    });
  });

  it('waits for Pods that are Pending: no Pod ready, no Lease', () => {
    const pods = podsOf(s, [0, 1, 2], { ready: false, ip: false });
    expect(decide(observation({ spec: s, pods, pass: { taken: new Set(['create-pods']) } })).kind).toBe('waiting-for-pods');
  });

  it('takes the Lease once a Pod is ready, and forms only when every Pod of every shard is', () => {
    const pods = podsOf(s, [0, 1, 2]);
    pods[5] = pod(s, 5, 2, { ready: false });
    expect(decide(observation({ spec: s, pods, reports: reports([], pods.slice(0, 5)) })).kind).toBe('take-lease');
    expect(decide(observation({ spec: s, pods, reports: reports([], pods.slice(0, 5)), pass: withLease() })).kind).toBe('waiting-for-pods');
  });

  it("forms with each shard's lowest ordinal as its master, then ends the round", () => {
    const pods = podsOf(s, [0, 1, 2]);
    const step = decide(observation({ spec: s, pods, reports: reports([], pods), pass: withLease() }));
    expect(step).toMatchObject({
      kind: 'form',
      masters: 3,
      replicas: 1,
      plan: shardCreatePlan([
        { shard: 0, pods: ['rc-0', 'rc-1'] },
        { shard: 1, pods: ['rc-2', 'rc-3'] },
        { shard: 2, pods: ['rc-4', 'rc-5'] },
      ]),
    });
    expect(step.kind === 'form' && step.nodes.map((n) => n.name)).toEqual(['rc-0', 'rc-1', 'rc-2', 'rc-3', 'rc-4', 'rc-5']);
    expect(step.kind === 'form' && step.plan.masters.map((m) => m.slots)).toEqual([
      [{ start: 0, end: 5460 }],
      [{ start: 5461, end: 10922 }],
      [{ start: 10923, end: 16383 }],
    ]);
    const formed = reports(formedNodes(pods, [0, 1, 2]));
    expect(decide(observation({ spec: s, pods, reports: formed, pass: withLease(['form']) })).kind).toBe('round-done');
  });
});

describe('decide: a formed cluster', () => {
  const s = spec(3);
  const pods = podsOf(s, [0, 1, 2]);
  const formed = reports(formedNodes(pods, [0, 1, 2]));

  it('applies spec.acl.users to every node once a round, with or without the Lease, before it is observed in shape', () => {
    const acl = { ...s, acl: { users: [{ name: 'app', rules: 'on ~app:*' }] } } as DefaultedSpec;
    const o = { spec: acl, pods, reports: formed, formedBefore: true };
    expect(decide(observation(o))).toEqual({ kind: 'apply-acl', endpoints: pods.map((p) => ({ ip: p.ip, port: p.port })) });
    expect(decide(observation({ ...o, pass: { taken: new Set(['apply-acl']) } })).kind).toBe('in-shape');
    // Not before the cluster is formed: there is nothing to log in to yet.
    expect(decide(observation({ ...o, reports: reports([], pods), formedBefore: false })).kind).not.toBe('apply-acl');
  });

  it('switches the default password once spec.passwordSecret holds one some node lacks or still accepts another beside', () => {
    const node = (key: string, passwordHashes: string[], masterauthHash: string) =>
      [key, { node: key, passwordHashes, masterauthHash }] as const;
    const keys = pods.map((p) => `${p.ip}:${p.port}`);
    const switched = new Map(keys.map((k) => node(k, ['new'], 'new')));
    const o = { spec: s, pods, reports: formed, formedBefore: true, passwordHash: 'new' };
    expect(decide(observation({ ...o, auth: switched })).kind).toBe('in-shape');
    // One node still accepts the old password too: not in shape, the Lease, then the switch, after heal.
    const pending = new Map([...switched, node(keys[3]!, ['old', 'new'], 'new')]);
    expect(decide(observation({ ...o, auth: pending })).kind).toBe('take-lease');
    expect(decide(observation({ ...o, auth: pending, pass: withLease(['heal', 'apply-settings']) }))).toEqual({
      kind: 'rotate-password',
      endpoints: pods.map((p) => ({ ip: p.ip, port: p.port })),
    });
    expect(decide(observation({ ...o, auth: pending, pass: withLease(['heal', 'apply-settings', 'rotate-password']) })).kind).toBe('place');
  });

  it('is only observed when in shape: no Lease', () => {
    expect(decide(observation({ spec: s, pods, reports: formed, formedBefore: true })).kind).toBe('in-shape');
  });

  it('takes the Lease for a spec change (a new generation), then heals and applies the live settings to every member', () => {
    const o = { spec: s, pods, reports: formed, formedBefore: true, generation: 2, observedGeneration: 1 };
    expect(decide(observation(o)).kind).toBe('take-lease');
    const heal = decide(observation({ ...o, pass: withLease() }));
    expect(heal.kind === 'heal' && heal.nodes.map((n) => n.name)).toEqual(pods.map((p) => p.name));
    const settings = decide(observation({ ...o, pass: withLease(['heal']) }));
    expect(settings).toEqual({ kind: 'apply-settings', endpoints: pods.map((p) => ({ ip: p.ip, port: p.port })) });
    expect(decide(observation({ ...o, pass: withLease(['heal', 'apply-settings']) }))).toEqual({
      kind: 'place',
      seed: { ip: '10.0.0.1', port: pods[0]!.port },
      shards: [],
      waiting: [],
    });
    expect(decide(observation({ ...o, pass: withLease(maintained) })).kind).toBe('round-done');
  });

  it("replaces a missing replica Pod, then attaches the fresh node to its shard's master", () => {
    const missing = pods.filter((p) => p.name !== 'rc-3');
    const joined = formedNodes(pods, [0, 1, 2]).filter((n) => n.pod.name !== 'rc-3');
    expect(decide(observation({ spec: s, pods: missing, reports: reports(joined), formedBefore: true }))).toEqual({
      kind: 'create-pods',
      pods: [{ ordinal: 3, shard: 1 }],
      tls: { layout: 'plain' },
      conf: { files: false, bus: false },
    });
    const fresh = pod(s, 3, 1, { ageMs: 2000 });
    const now = [...missing, fresh];
    const o = { spec: s, pods: now, reports: reports(joined, [fresh]), formedBefore: true };
    expect(decide(observation({ ...o, pass: { taken: new Set(['create-pods']) } })).kind).toBe('take-lease');
    const step = decide(observation({ ...o, pass: withLease(['heal', 'apply-settings']) }));
    expect(step.kind).toBe('place');
    if (step.kind !== 'place') return;
    expect(step.shards).toHaveLength(1);
    expect(step.shards[0]).toMatchObject({
      shard: 1,
      master: { name: 'rc-2', id: 'id-rc-2', busPort: pods[2]!.busPort },
      nodes: [{ name: 'rc-3' }],
    });
    expect(step.shards[0]!.nodes[0]!.report?.myId).toBe('id-rc-3');
  });

  it('gives a shard whose master Pod is gone no Pod until the replica took over, but heals', () => {
    const left = pods.filter((p) => p.name !== 'rc-2');
    const joined = formedNodes(pods, [0, 1, 2]).filter((n) => n.pod.name !== 'rc-2');
    const o = { spec: s, pods: left, reports: reports(joined), formedBefore: true };
    expect(decide(observation(o)).kind).toBe('take-lease');
    expect(decide(observation({ ...o, pass: withLease() })).kind).toBe('heal');
  });

  it('replaces the Pods of a lost shard (master and replica gone) and heals without them', () => {
    const left = pods.filter((p) => p.shard !== 2);
    const joined = formedNodes(pods, [0, 1, 2]).filter((n) => n.pod.shard !== 2);
    const o = { spec: s, pods: left, reports: reports(joined), formedBefore: true };
    expect(decide(observation(o))).toEqual({
      kind: 'create-pods',
      pods: [
        { ordinal: 4, shard: 2 },
        { ordinal: 5, shard: 2 },
      ],
      tls: { layout: 'plain' },
      conf: { files: false, bus: false },
    });
    const heal = decide(observation({ ...o, pass: withLease(['create-pods']) }));
    expect(heal.kind === 'heal' && heal.nodes.map((n) => n.name)).toEqual(['rc-0', 'rc-1', 'rc-2', 'rc-3']);
  });

  it('places only Pods that answered or started a moment ago: an older silent one is broken', () => {
    const seen = observation({ spec: s, pods, reports: formed, formedBefore: true });
    const young = pod(s, 6, 1, { ageMs: 5000 });
    const old = pod(s, 7, 1, { ageMs: 60_000 });
    const wanted = [...pods, young, old];
    const out = placement({ ...seen, pods: wanted }, seen.cluster!, wanted, [0, 1, 2]);
    expect(out.shards.map((x) => ({ shard: x.shard, nodes: x.nodes.map((n) => n.name), report: x.nodes.map((n) => !!n.report) }))).toEqual([
      { shard: 1, nodes: ['rc-6'], report: [false] },
    ]);
  });

  it("attaches a member that was met but never made a replica (a master owning nothing) to its shard's master", () => {
    // rc-3 (shard 1) met the cluster as a master but never got its REPLICATE: a pass cut short.
    const nodes = formedNodes(pods, [0, 1, 2]).map((n) => (n.pod.name === 'rc-3' ? { pod: n.pod, role: 'master' as const } : n));
    const seen = observation({ spec: s, pods, reports: reports(nodes), formedBefore: true });
    const out = placement(seen, seen.cluster!, pods, [0, 1, 2]);
    expect(
      out.shards.map((x) => ({
        shard: x.shard,
        master: x.master?.name,
        nodes: x.nodes.map((n) => n.name),
        stranded: x.stranded?.map((n) => n.name),
      })),
    ).toEqual([{ shard: 1, master: 'rc-2', nodes: [], stranded: ['rc-3'] }]);
    // A new shard's first node, an empty master waiting for its slots, is its shard's master.
    const s4 = spec(4);
    const four = podsOf(s4, [0, 1, 2, 3]);
    const emptyShard = formedNodes(four, [0, 1, 2, 3], 3);
    const next = observation({ spec: s4, pods: four, reports: reports(emptyShard), formedBefore: true });
    expect(placement(next, next.cluster!, four, [0, 1, 2, 3]).shards).toEqual([]);
  });

  it('removes a surplus replica (replicas lowered) from the cluster before its Pod', () => {
    const s2 = spec(3, 1);
    const extra = pod(s2, 6, 0);
    const nodes = [...formedNodes(pods, [0, 1, 2]), { pod: extra, role: 'replica' as const, of: pods[0]! }];
    const step = decide(
      observation({ spec: s2, pods: [...pods, extra], reports: reports(nodes), formedBefore: true, pass: withLease(maintained) }),
    );
    expect(step).toMatchObject({ kind: 'remove-surplus', nodes: [{ pod: 'rc-6', nodeId: 'id-rc-6', master: false }] });
  });
});

describe('decide: masters', () => {
  const s4 = spec(4);
  const old = podsOf(s4, [0, 1, 2]);
  const joined3 = formedNodes(old, [0, 1, 2]);

  it("asks for the scale-out's reshard early while the new Pods are Pending, once", () => {
    const pending = podsOf(s4, [3], { ready: false, ip: false, ageMs: 1000 });
    const o = { spec: s4, pods: [...old, ...pending], reports: reports(joined3), formedBefore: true, generation: 2 };
    expect(decide(observation({ ...o, pass: withLease(maintained) }))).toEqual({
      kind: 'request-reshard-early',
      masters: 4,
      reason: 'masters 3 -> 4',
    });
    expect(decide(observation({ ...o, pass: { ...withLease(maintained), reshardAsked: 'early' } })).kind).toBe('round-done');
    expect(decide(observation({ ...o, reshard: { requested: true }, pass: withLease(maintained) })).kind).toBe('round-done');
    expect(decide(observation({ ...o, pass: { ...withLease(maintained), canEmit: false } })).kind).toBe('round-done');
  });

  it("joins a new shard's first Pod as its master and the other as its replica", () => {
    const fresh = podsOf(s4, [3], { ageMs: 3000 });
    const step = decide(
      observation({
        spec: s4,
        pods: [...old, ...fresh],
        reports: reports(joined3, fresh),
        formedBefore: true,
        pass: withLease(['heal', 'apply-settings']),
      }),
    );
    expect(step.kind).toBe('place');
    if (step.kind !== 'place') return;
    expect(step.shards.map((x) => ({ shard: x.shard, master: x.master, nodes: x.nodes.map((n) => n.name) }))).toEqual([
      { shard: 3, master: undefined, nodes: ['rc-6', 'rc-7'] },
    ]);
    expect(step.seed).toEqual({ ip: '10.0.0.1', port: old[0]!.port });
  });

  it('asks in the reply once every new master joined and no Pod is still starting', () => {
    const all = podsOf(s4, [0, 1, 2, 3]);
    const nodes = formedNodes(all, [0, 1, 2, 3], 3);
    const step = decide(observation({ spec: s4, pods: all, reports: reports(nodes), formedBefore: true, pass: withLease(maintained) }));
    expect(step).toEqual({ kind: 'request-reshard', mode: 'scale-out', masters: 4, reason: 'masters 3 -> 4' });
    // Shard 3's replica is still starting: the request asked early stands, the reply waits.
    const starting = [...all.filter((p) => p.name !== 'rc-7'), pod(s4, 7, 3, { ip: false, ready: false, ageMs: 10_000 })];
    const joined = reports(
      formedNodes(
        starting.filter((p) => p.ip),
        [0, 1, 2, 3],
        3,
      ),
    );
    const waiting = decide(
      observation({
        spec: s4,
        pods: starting,
        reports: joined,
        formedBefore: true,
        pass: { ...withLease(maintained), reshardAsked: 'early' },
      }),
    );
    expect(waiting.kind).toBe('round-done');
    const late = [...starting.slice(0, -1), pod(s4, 7, 3, { ip: false, ready: false, ageMs: 70_000 })];
    expect(decide(observation({ spec: s4, pods: late, reports: joined, formedBefore: true, pass: withLease(maintained) })).kind).toBe(
      'request-reshard',
    );
  });

  it('answers busy before reading any node while a reshard runs with the Lease and every Pod is up', () => {
    const all = podsOf(s4, [0, 1, 2, 3]);
    const facts = observation({ spec: s4, pods: all, reshard: { running: true } });
    expect(reshardMayHoldLease(facts, all, facts.pass)).toBe(true);
    expect(reshardMayHoldLease(facts, all, { ...facts.pass, round: 1 })).toBe(false);
    expect(reshardMayHoldLease(facts, all.slice(1), facts.pass)).toBe(false);
    expect(reshardMayHoldLease({ ...facts, reshard: { running: false, requested: true } }, all, facts.pass)).toBe(false);
    expect(decide(observation({ spec: s4, pods: all, reshard: { running: true }, leaseHolder: 'reshard/x' }))).toEqual({
      kind: 'busy',
      holder: 'reshard/x',
    });
  });

  it('leaves a requested or running reshard alone when no Pod waits to be placed: no Lease', () => {
    const all = podsOf(s4, [0, 1, 2, 3]);
    const nodes = reports(formedNodes(all, [0, 1, 2, 3], 3));
    expect(decide(observation({ spec: s4, pods: all, reports: nodes, formedBefore: true, reshard: { requested: true } })).kind).toBe(
      'leave-to-reshard',
    );
    expect(decide(observation({ spec: s4, pods: all, reports: nodes, formedBefore: true, reshard: { running: true } })).kind).toBe(
      'leave-to-reshard',
    );
    // While it runs, a pass that holds the Lease does not heal: the reshard owns the open slots.
    expect(
      decide(observation({ spec: s4, pods: all, reports: nodes, formedBefore: true, reshard: { running: true }, pass: withLease() })).kind,
    ).toBe('apply-settings');
  });

  it("asks for a scale-in's reshard when more masters own slots than wanted", () => {
    const s3 = spec(3);
    const all = podsOf(s3, [0, 1, 2, 3]);
    const step = decide(
      observation({
        spec: s3,
        pods: all,
        reports: reports(formedNodes(all, [0, 1, 2, 3])),
        formedBefore: true,
        generation: 3,
        pass: withLease(maintained),
      }),
    );
    expect(step).toEqual({ kind: 'request-reshard', mode: 'scale-in', masters: 3, reason: 'masters 4 -> 3' });
  });

  it('removes the drained shard, replica before master, once exactly the wanted masters own slots', () => {
    const s3 = spec(3);
    const all = podsOf(s3, [0, 1, 2, 3]);
    const drained = formedNodes(all, [0, 1, 3, 2], 3);
    const step = decide(observation({ spec: s3, pods: all, reports: reports(drained), formedBefore: true, pass: withLease(maintained) }));
    expect(step).toMatchObject({
      kind: 'remove-drained',
      shards: [
        {
          shard: 2,
          nodes: [
            { pod: 'rc-5', nodeId: 'id-rc-5', master: false },
            { pod: 'rc-4', nodeId: 'id-rc-4', master: true },
          ],
        },
      ],
    });
  });
});

describe('decide: blocked', () => {
  const s = spec(3);

  it('a missing password Secret blocks before any Pod is created', () => {
    const blocker: Blocker = { reason: 'SecretMissing', message: 'secret pw not found' };
    expect(decide(observation({ spec: s, pods: [], secretBlocker: blocker }))).toEqual({ kind: 'blocked', blocker });
  });

  it('Pods no node can take block the cluster, after the missing Pods are created', () => {
    const pods = podsOf(s, [0, 1, 2], { ready: false, ip: false });
    pods[4] = pod(s, 4, 2, { ready: false, ip: false, unschedulable: '0/3 nodes are available' });
    expect(decide(observation({ spec: s, pods: pods.slice(0, 5) })).kind).toBe('create-pods');
    expect(decide(observation({ spec: s, pods }))).toEqual({
      kind: 'blocked',
      blocker: { reason: 'Unschedulable', message: 'Pod rc-4 cannot be placed: 0/3 nodes are available' },
    });
  });

  it('persistence changes nothing in what is decided', () => {
    const ps = spec(3, 1, { persistence: { enabled: true } });
    const pods = podsOf(ps, [0, 1, 2]);
    expect(decide(observation({ spec: ps, pods, reports: reports(formedNodes(pods, [0, 1, 2])), formedBefore: true })).kind).toBe(
      'in-shape',
    );
  });
});
