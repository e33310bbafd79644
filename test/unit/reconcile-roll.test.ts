import { describe, expect, it } from 'vitest';
import { applyDefaults, type DefaultedSpec } from '../../shared/api/index.js';
import { decide, shapeOf, type StepKind } from '../../functions/reconcile/decide.js';
import { roundStatus } from '../../functions/reconcile/report.js';
import { pictureOf, type ClusterPicture, type Observation, type PodInfo } from '../../functions/reconcile/observe.js';
import { restartHash } from '../../functions/reconcile/resources.js';
import { rollSettled, rollState, rollStep, withRollStatus, type RollState } from '../../functions/reconcile/roll.js';
import type { ClusterNodeView, NodeReport } from '../../shared/redis/types.js';
import { buildView } from '../../shared/redis/view.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const spec = (extra: Record<string, unknown> = {}): DefaultedSpec =>
  applyDefaults({ masters: 3, replicas: 1, maxMemory: '64mb', image: 'redis:7.0', ...extra });
// With persistence, a shard of one master and one replica rolls in place; without, it surges.
const OLD = spec({ persistence: { enabled: true } });
const NEW = spec({ image: 'redis:7.2', persistence: { enabled: true } });

/** A node: its Pod's ordinal, its shard, its role, the spec its Pod was built from, its offset. */
interface N {
  ordinal: number;
  shard: number;
  master: boolean;
  built?: DefaultedSpec;
  /** Replication offset: the master's, or what the replica has processed. */
  offset?: number;
  ready?: boolean;
  deleting?: boolean;
  /** A replica whose link is down: not a copy of its shard yet. */
  syncing?: boolean;
  /** A Pod no machine takes: no address, no node. */
  unschedulable?: boolean;
  /** The roll whose surge this Pod's shard gave up. */
  forgone?: string;
  /** Gone with its Pod and its process: its peers still list it, failing. */
  dead?: boolean;
}

const name = (n: N) => `rc-${n.ordinal}`;
const idOf = (n: N) => `id-${name(n)}`;

function podOf(s: DefaultedSpec, n: N): PodInfo {
  return {
    name: name(n),
    ordinal: n.ordinal,
    shard: n.shard,
    deleting: n.deleting ?? false,
    ready: (n.ready ?? true) && !n.unschedulable,
    ...(n.unschedulable ? { unschedulable: '0/3 nodes are available' } : { ip: '10.0.0.1' }),
    port: s.basePort + n.ordinal,
    busPort: s.basePort + n.ordinal + 10000,
    createdAt: NOW - 600_000,
    layout: 'plain',
    restartHash: restartHash(n.built ?? OLD),
    ...(n.forgone ? { surgeForgone: n.forgone } : {}),
  };
}

/** The shards' slots split evenly, each shard's master owning its part. */
function line(s: DefaultedSpec, nodes: N[], n: N, self: boolean): ClusterNodeView {
  const master = nodes.find((m) => m.master && m.shard === n.shard)!;
  const size = Math.floor(16384 / s.masters);
  const slots = n.master ? [{ start: n.shard * size, end: n.shard === s.masters - 1 ? 16383 : (n.shard + 1) * size - 1 }] : [];
  return {
    id: idOf(n),
    ip: '10.0.0.1',
    port: s.basePort + n.ordinal,
    busPort: s.basePort + n.ordinal + 10000,
    flags: [...(self ? (['myself'] as const) : []), n.master ? 'master' : 'slave', ...(n.dead ? (['fail'] as const) : [])],
    role: n.master ? 'master' : 'replica',
    ...(n.master ? {} : { masterId: idOf(master) }),
    pingSent: 0,
    pongReceived: 0,
    configEpoch: n.master ? n.shard + 1 : 0,
    linkState: 'connected',
    slots,
    openSlots: [],
  };
}

function reportsOf(s: DefaultedSpec, nodes: N[]): NodeReport[] {
  return nodes
    .filter((n) => !n.dead)
    .map((n): NodeReport => ({
      address: { ip: '10.0.0.1', port: s.basePort + n.ordinal },
      myId: idOf(n),
      nodes: nodes.map((v) => line(s, nodes, v, v === n)),
      clusterState: 'ok' as const,
      clusterInfo: {},
      replication: n.master
        ? { role: 'master', master_repl_offset: String(n.offset ?? 1000) }
        : {
            role: 'slave',
            master_link_status: n.syncing ? 'down' : 'up',
            master_sync_in_progress: n.syncing ? '1' : '0',
            slave_repl_offset: String(n.offset ?? 1000),
          },
      keys: 10,
    }));
}

/** Shard k: the master at ordinal (1+r)k, its r replicas after it. */
function shards(s: DefaultedSpec, built: (n: N) => DefaultedSpec = () => OLD): N[] {
  const per = 1 + s.replicas;
  const out: N[] = [];
  for (let k = 0; k < s.masters; k++)
    for (let i = 0; i < per; i++) {
      const n: N = { ordinal: per * k + i, shard: k, master: i === 0 };
      out.push({ ...n, built: built(n) });
    }
  return out;
}

interface Seen {
  o: Observation;
  cluster: ClusterPicture;
  roll: RollState;
}

function seen(s: DefaultedSpec, nodes: N[], extra: Partial<Observation> = {}, taken: StepKind[] = []): Seen {
  const pods = nodes.filter((n) => !n.dead).map((n) => podOf(s, n));
  const cluster = pictureOf(
    pods,
    buildView(
      reportsOf(
        s,
        nodes.filter((n) => !n.deleting && !n.unschedulable),
      ),
    ),
  );
  const o: Observation = {
    spec: s,
    generation: 2,
    observedGeneration: 2,
    formedBefore: true,
    reshard: { running: false, requested: false },
    startedAt: NOW,
    now: NOW,
    pods,
    cluster,
    pass: { round: 0, taken: new Set(taken), lease: true, reshardAsked: undefined, canEmit: true },
    ...extra,
  };
  return { o, cluster, roll: rollState(o, cluster, shapeOf(o, cluster), restartHash(s)) };
}

const next = ({ o, cluster, roll }: Seen) => rollStep(o, cluster, shapeOf(o, cluster), roll);

describe('restartHash', () => {
  it('changes with what only a restart applies', () => {
    const base = restartHash(OLD);
    expect(restartHash(NEW)).not.toBe(base);
    expect(restartHash(spec({ tag: '7.2' }))).not.toBe(base);
    expect(restartHash(spec({ resources: { limits: { memory: '1Gi' } } }))).not.toBe(base);
    expect(restartHash(spec({ exporter: { tag: 'v1.50.0' } }))).not.toBe(base);
    expect(restartHash(spec({ exporter: { enabled: false } }))).not.toBe(base);
    expect(restartHash(spec({ redisConfig: { databases: '4' } }))).not.toBe(base);
    expect(restartHash(spec({ passwordSecret: { name: 'pw' } }))).not.toBe(base);
  });

  it('stays for what is set live or is no part of a Pod', () => {
    const base = restartHash(OLD);
    expect(restartHash(spec({ maxMemory: '128mb', maxMemoryPolicy: 'allkeys-lru', clusterNodeTimeout: 3000 }))).toBe(base);
    expect(restartHash(spec({ redisConfig: { 'slowlog-log-slower-than': '5000' } }))).toBe(base);
    expect(restartHash(spec({ masters: 5, replicas: 2, paused: true, allowDataLoss: true }))).toBe(base);
  });
});

describe('the rolling update', () => {
  it('has nothing to do when every Pod carries the current hash', () => {
    const now = seen(OLD, shards(OLD));
    expect(now.roll).toMatchObject({ updated: 6, total: 6, outdated: [] });
    expect(rollSettled(now.roll)).toBe(true);
    expect(next(now)).toBeUndefined();
    const status = withRollStatus({}, now.roll, 2);
    expect(status.rollingUpdate).toEqual({ updated: 6, total: 6, progress: '6/6' });
    expect(status.conditions?.find((c) => c.type === 'RollingUpdate')).toMatchObject({ status: 'False', reason: 'Complete' });
  });

  it('restarts the replicas first, the lowest ordinal first', () => {
    const now = seen(NEW, shards(NEW));
    expect(now.roll).toMatchObject({ updated: 0, total: 6 });
    expect(next(now)).toEqual({ kind: 'restart-for-update', pod: 'rc-1', shard: 0, master: false });
    const status = withRollStatus({}, now.roll, 2);
    expect(status.rollingUpdate?.progress).toBe('0/6');
    expect(status.conditions?.find((c) => c.type === 'RollingUpdate')).toMatchObject({ status: 'True', reason: 'Updating' });
  });

  it('fails a master over to its replica once every replica runs the new spec', () => {
    const nodes = shards(NEW, (n) => (n.master ? OLD : NEW));
    expect(next(seen(NEW, nodes))).toEqual({
      kind: 'failover-for-update',
      shard: 0,
      master: { pod: 'rc-0', endpoint: { ip: '10.0.0.1', port: 10000 }, nodeId: 'id-rc-0' },
      replica: { pod: 'rc-1', endpoint: { ip: '10.0.0.1', port: 10001 }, nodeId: 'id-rc-1' },
    });
  });

  it('promotes the most caught-up replica', () => {
    const s = spec({ image: 'redis:7.2', replicas: 2 });
    const nodes = shards(s, (n) => (n.master ? OLD : s)).map((n) => (n.ordinal === 2 ? { ...n, offset: 1001 } : n));
    const step = next(seen(s, nodes));
    expect(step).toMatchObject({ kind: 'failover-for-update', shard: 0, master: { pod: 'rc-0' }, replica: { pod: 'rc-2' } });
  });

  it('restarts a former master once it has become a replica', () => {
    const nodes = shards(NEW, (n) => (n.master ? OLD : NEW)).map((n) => (n.shard === 0 ? { ...n, master: !n.master } : n));
    expect(next(seen(NEW, nodes))).toEqual({ kind: 'restart-for-update', pod: 'rc-0', shard: 0, master: false });
  });

  it('waits while anything else is wrong: a Pod not ready or going, a lagging replica, a reshard', () => {
    const nodes = shards(NEW);
    expect(
      next(
        seen(
          NEW,
          nodes.map((n) => (n.ordinal === 3 ? { ...n, ready: false } : n)),
        ),
      ),
    ).toBeUndefined();
    expect(
      next(
        seen(
          NEW,
          nodes.map((n) => (n.ordinal === 3 ? { ...n, deleting: true } : n)),
        ),
      ),
    ).toBeUndefined();
    expect(
      next(
        seen(
          NEW,
          nodes.map((n) => (n.ordinal === 5 ? { ...n, offset: 1000 - 2 * 1024 * 1024 } : n)),
        ),
      ),
    ).toBeUndefined();
    expect(next(seen(NEW, nodes, { reshard: { running: true, requested: false } }))).toBeUndefined();
    expect(next(seen(NEW, nodes, { reshard: { running: false, requested: true } }))).toBeUndefined();
    expect(next(seen(NEW, nodes, { reshard: { running: false, requested: false, paused: { mode: 'scale-out' } } }))).toBeUndefined();
    // Each round restarts at most one Pod.
    expect(next(seen(NEW, nodes, {}, ['restart-for-update']))).toBeUndefined();
  });

  it('goes on toward the newest spec when the spec changes again mid-roll', () => {
    const newest = spec({ image: 'redis:7.4', persistence: { enabled: true } });
    // Replicas already run redis:7.2, masters still redis:7.0: every Pod is behind redis:7.4.
    const now = seen(
      newest,
      shards(newest, (n) => (n.master ? OLD : NEW)),
    );
    expect(now.roll.updated).toBe(0);
    expect(next(now)).toEqual({ kind: 'restart-for-update', pod: 'rc-1', shard: 0, master: false });
  });

  it('leaves masters without replicas or persistence as they are, and says so', () => {
    const s = spec({ image: 'redis:7.2', replicas: 0 });
    const now = seen(
      s,
      shards(s, () => OLD),
    );
    expect(now.roll.stuck.map((p) => p.name)).toEqual(['rc-0', 'rc-1', 'rc-2']);
    expect(rollSettled(now.roll)).toBe(true);
    expect(next(now)).toBeUndefined();
    const condition = withRollStatus({}, now.roll, 2).conditions?.find((c) => c.type === 'RollingUpdate');
    expect(condition).toMatchObject({ status: 'True', reason: 'ReplicaNeeded' });
    expect(condition?.message).toContain('rc-0, rc-1, rc-2 are masters without replicas or persistence');
  });

  it('restarts a master without replicas when its data is on its claim', () => {
    const s = spec({ image: 'redis:7.2', replicas: 0, persistence: { enabled: true } });
    const now = seen(
      s,
      shards(s, () => OLD),
    );
    expect(now.roll.stuck).toEqual([]);
    expect(next(now)).toEqual({ kind: 'restart-for-update', pod: 'rc-0', shard: 0, master: true });
  });
});

describe('the surge roll: one master, one replica, no persistence', () => {
  const before = spec();
  const after = spec({ image: 'redis:7.2' });
  const old = () => shards(after, () => before);
  const surge = (extra: Partial<N> = {}): N => ({ ordinal: 6, shard: 0, master: false, built: after, ...extra });

  it('first adds a Pod of the current spec to the lowest shard still behind', () => {
    const now = seen(after, old());
    const shape = shapeOf(now.o, now.cluster);
    expect(shape.surge).toMatchObject({ shard: 0, forgone: false });
    expect(shape.plan.create).toEqual([{ ordinal: 6, shard: 0 }]);
    expect(next(now)).toBeUndefined();
    expect(decide(now.o)).toMatchObject({ kind: 'create-pods', pods: [{ ordinal: 6, shard: 0 }] });
  });

  it("restarts that shard's old replica once the new one has synced, and no other shard's", () => {
    expect(next(seen(after, [...old(), surge({ syncing: true })]))).toBeUndefined();
    const now = seen(after, [...old(), surge()]);
    expect(now.roll).toMatchObject({ updated: 1, total: 6 });
    expect(next(now)).toEqual({ kind: 'restart-for-update', pod: 'rc-1', shard: 0, master: false });
    const status = roundStatus(
      undefined,
      { ...now.o, cluster: now.cluster },
      shapeOf(now.o, now.cluster),
      { actions: [], problems: [] },
      false,
      'rc',
      now.roll,
    );
    expect(status.phase).toBe('Updating');
    expect(status.conditions?.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'False', reason: 'ClusterHealthy' });
  });

  it("hands the master over to an updated replica; the old master's Pod then goes without a replacement", () => {
    const updated = (n: N) => (n.ordinal === 1 ? { ...n, built: after } : n);
    const handover = seen(after, [...old().map(updated), surge()]);
    expect(next(handover)).toMatchObject({ kind: 'failover-for-update', shard: 0, master: { pod: 'rc-0' }, replica: { pod: 'rc-1' } });
    const swapped = (n: N) => (n.shard === 0 && n.ordinal < 2 ? { ...updated(n), master: !n.master } : n);
    expect(next(seen(after, [...old().map(swapped), surge()]))).toEqual({
      kind: 'restart-for-update',
      pod: 'rc-0',
      shard: 0,
      master: false,
    });
    // Terminating, the old master keeps its ordinal; the next shard surges meanwhile.
    const going = seen(after, [...old().map((n) => (n.ordinal === 0 ? { ...swapped(n), deleting: true } : swapped(n))), surge()]);
    const shape = shapeOf(going.o, going.cluster);
    expect(shape.surge?.shard).toBe(1);
    expect(shape.plan.create).toEqual([{ ordinal: 7, shard: 1 }]);
    const gone = seen(after, [
      ...old()
        .filter((n) => n.ordinal !== 0)
        .map(swapped),
      surge(),
    ]);
    expect(shapeOf(gone.o, gone.cluster).plan).toMatchObject({ create: [{ ordinal: 0, shard: 1 }], surplus: [] });
  });

  it('gives no new Pod the port of a master lost with its machine, so its replica takes over instead of syncing from an empty node', () => {
    // rc-1 restarts; then rc-0 (shard 0's master) and rc-3 (shard 1's replica) are lost together.
    const lost = (n: N) => (n.ordinal === 1 ? { ...n, deleting: true } : n.ordinal === 0 || n.ordinal === 3 ? { ...n, dead: true } : n);
    const now = seen(after, [...old().map(lost), surge()]);
    const shape = shapeOf(now.o, now.cluster);
    // Shard 0 has no Pod of the old spec left: the roll surges shard 1, which needs two Pods.
    expect(shape.surge?.shard).toBe(1);
    expect(shape.plan.create).toEqual([
      { ordinal: 3, shard: 1 },
      { ordinal: 7, shard: 1 },
    ]);
  });

  it('gives the surge up when no machine takes the extra Pod, and then rolls the shard without it', () => {
    const parked = seen(after, [...old(), surge({ unschedulable: true })]);
    expect(shapeOf(parked.o, parked.cluster).blocker).toBeUndefined();
    const hash = restartHash(after);
    expect(next(parked)).toEqual({ kind: 'forgo-surge', shard: 0, pod: 'rc-6', hash, mark: ['rc-0', 'rc-1'] });
    // Marked: the extra Pod is surplus, and once it is gone the shard's replica restarts.
    const forgone = (n: N) => (n.shard === 0 ? { ...n, forgone: hash } : n);
    const marked = seen(after, [...old().map(forgone), surge({ unschedulable: true })]);
    expect(shapeOf(marked.o, marked.cluster).plan.surplus).toEqual(['rc-6']);
    expect(next(marked)).toBeUndefined();
    const without = seen(after, old().map(forgone));
    expect(shapeOf(without.o, without.cluster).plan.create).toEqual([]);
    expect(next(without)).toEqual({ kind: 'restart-for-update', pod: 'rc-1', shard: 0, master: false });
    // A Pod the shard needs, not its extra one, is still what stops the pass.
    const missing = seen(after, [...old().map((n) => (n.ordinal === 3 ? { ...n, unschedulable: true } : n)), surge()]);
    expect(shapeOf(missing.o, missing.cluster).blocker).toMatchObject({
      reason: 'Unschedulable',
      message: expect.stringContaining('rc-3'),
    });
  });

  it('leaves a cluster with persistence, two replicas or nothing behind as it is', () => {
    expect(
      shapeOf(
        seen(
          after,
          shards(after, () => after),
        ).o,
        seen(
          after,
          shards(after, () => after),
        ).cluster,
      ).surge,
    ).toBeUndefined();
    const two = spec({ image: 'redis:7.2', replicas: 2 });
    const twoSeen = seen(
      two,
      shards(two, () => before),
    );
    expect(shapeOf(twoSeen.o, twoSeen.cluster).surge).toBeUndefined();
    const persisted = seen(
      NEW,
      shards(NEW, () => OLD),
    );
    expect(shapeOf(persisted.o, persisted.cluster).surge).toBeUndefined();
  });
});

describe('decide with a rolling update', () => {
  const maintained: StepKind[] = ['heal', 'apply-settings', 'place'];

  it('is not in shape while a Pod runs an older spec: it takes the Lease', () => {
    expect(decide({ ...seen(OLD, shards(OLD)).o, pass: { ...seen(OLD, []).o.pass, lease: false } }).kind).toBe('in-shape');
    expect(decide({ ...seen(NEW, shards(NEW)).o, pass: { ...seen(NEW, []).o.pass, lease: false } }).kind).toBe('take-lease');
  });

  it('rolls after the round has healed, placed and applied the live settings', () => {
    expect(decide(seen(NEW, shards(NEW), {}, maintained).o)).toMatchObject({ kind: 'restart-for-update', pod: 'rc-1' });
    expect(decide(seen(NEW, shards(NEW), {}, [...maintained, 'restart-for-update']).o).kind).toBe('round-done');
  });

  it('changes nothing while paused', () => {
    const paused = spec({ image: 'redis:7.2', paused: true });
    expect(decide(seen(paused, shards(paused)).o).kind).toBe('paused');
    // A Pod missing is not made again either.
    expect(
      decide(
        seen(
          paused,
          shards(paused).filter((n) => n.ordinal !== 3),
        ).o,
      ).kind,
    ).toBe('paused');
  });

  it('asks again for a reshard the pause stopped, once unpaused', () => {
    const o = seen(OLD, shards(OLD), { reshard: { running: false, requested: false, paused: { mode: 'scale-in' } } }, maintained).o;
    expect(decide(o)).toMatchObject({ kind: 'request-reshard', mode: 'scale-in', masters: 3 });
  });
});
