import { describe, expect, it } from 'vitest';
import {
  mastersPerMachine,
  planPrimaryMove,
  shardLayouts,
  spreadMeasure,
  type PrimaryMove,
  type ShardLayout,
} from '../../shared/redis/planner/primaries.js';
import type { ClusterNodeView, NodeReport } from '../../shared/redis/types.js';
import { buildView } from '../../shared/redis/view.js';

/** `s1: A > B C` is shard s1 with its master on machine A and replicas on B and C. */
function layout(text: string): ShardLayout[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .map((part) => {
      const [id, rest] = part.split(':').map((x) => x.trim()) as [string, string];
      const [master, replicas = ''] = rest.split('>').map((x) => x.trim()) as [string, string?];
      return {
        master: { id, machine: master },
        replicas: replicas
          .split(' ')
          .filter(Boolean)
          .map((machine, i) => ({ id: `${id}r${i}`, machine })),
      };
    });
}

/** The layout after the move's failover: the replica is the master, the old master its replica. */
function apply(shards: ShardLayout[], move: PrimaryMove): ShardLayout[] {
  return shards.map((s) => {
    if (s.master.id !== move.masterId) return s;
    const promoted = s.replicas.find((r) => r.id === move.replicaId)!;
    return { master: promoted, replicas: [...s.replicas.filter((r) => r !== promoted), s.master] };
  });
}

/** The lowest measure any choice of master (among each shard's machines) reaches. */
function bestMeasure(shards: ShardLayout[]): number {
  const choices = shards.map((s) => [s.master.machine, ...s.replicas.map((r) => r.machine)]);
  const machines = [...mastersPerMachine(shards).keys()];
  let best = Infinity;
  const walk = (i: number, held: Map<string, number>): void => {
    if (i === choices.length) {
      best = Math.min(
        best,
        [...held.values()].reduce((sum, n) => sum + n * n, 0),
      );
      return;
    }
    for (const m of new Set(choices[i])) {
      held.set(m, held.get(m)! + 1);
      walk(i + 1, held);
      held.set(m, held.get(m)! - 1);
    }
  };
  walk(0, new Map(machines.map((m) => [m, 0])));
  return best;
}

describe('primary balance: the move', () => {
  const cases: { name: string; layout: string; move?: Partial<PrimaryMove> }[] = [
    { name: 'one master per machine', layout: 's1: A > B, s2: B > C, s3: C > A' },
    {
      name: 'a failover put two masters on A: the one whose replica is on C goes back',
      layout: 's1: A > B, s2: B > C, s3: A > C',
      move: { masterId: 's3', replicaId: 's3r0', from: 'A', to: 'C', heldFrom: 2, heldTo: 0, masters: 3, moves: 1 },
    },
    {
      name: 'two failovers: A holds 2, B none; the master with a replica on B moves, not an undo',
      layout: 's1: A > B, s2: C > B, s3: A > C',
      move: { masterId: 's1', from: 'A', to: 'B', heldFrom: 2, heldTo: 0, moves: 1 },
    },
    {
      name: 'only a chain helps: A gives one to B, which gives one to C',
      layout: 's1: A > B, s2: A > B, s3: B > C',
      move: { masterId: 's1', from: 'A', to: 'B', heldFrom: 2, heldTo: 1, toward: 'C', moves: 2 },
    },
    { name: 'four masters on three machines: 2, 1, 1 is as even as it gets', layout: 's1: A > B, s2: A > C, s3: B > A, s4: C > A' },
    { name: 'two machines, three masters: 2 and 1', layout: 's1: A > B, s2: A > B, s3: B > A' },
    { name: 'no replica that can take over', layout: 's1: A, s2: A, s3: B > A' },
    { name: 'the only replica shares its master machine', layout: 's1: A > A, s2: A > B, s3: B > A' },
    { name: 'the replicas are all on the machine that already holds the rest', layout: 's1: A > B, s2: A > B, s3: B > A, s4: C > B' },
    {
      name: 'three on A, replicas on B only: one moves, then 2 and 1 is all the replicas allow',
      layout: 's1: A > B, s2: A > B, s3: A > B',
      move: { masterId: 's1', from: 'A', to: 'B', heldFrom: 3, heldTo: 0 },
    },
    {
      name: 'the largest gap first',
      layout: 's1: A > D, s2: A > B, s3: A > B, s4: B > A, s5: B > D, s6: C > D',
      move: { masterId: 's1', from: 'A', to: 'D', heldFrom: 3, heldTo: 0 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const move = planPrimaryMove(layout(c.layout));
      if (c.move) expect(move).toMatchObject(c.move);
      else expect(move).toBeUndefined();
    });
  }

  it('the chain goes on where the first move left it, and stops once even', () => {
    let shards = layout('s1: A > B, s2: A > B, s3: B > C');
    const first = planPrimaryMove(shards)!;
    expect(spreadMeasure(apply(shards, first))).toBe(spreadMeasure(shards));
    shards = apply(shards, first);
    expect(planPrimaryMove(shards)).toMatchObject({ masterId: 's3', from: 'B', to: 'C', moves: 1 });
    shards = apply(shards, planPrimaryMove(shards)!);
    expect([...mastersPerMachine(shards).values()]).toEqual([1, 1, 1]);
    expect(planPrimaryMove(shards)).toBeUndefined();
  });

  it('on random layouts, moves never revisit a layout and end as even as the replicas allow', () => {
    // mulberry32: a small seeded generator, so a failure replays.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
    };
    for (let round = 0; round < 500; round++) {
      const machines = ['A', 'B', 'C', 'D', 'E'].slice(0, 2 + random(4));
      const shards: ShardLayout[] = Array.from({ length: 1 + random(8) }, (_, i) => {
        const master = machines[random(machines.length)]!;
        const replicas = Array.from({ length: random(3) }, (_, j) => ({ id: `s${i}r${j}`, machine: machines[random(machines.length)]! }));
        return { master: { id: `s${i}`, machine: master }, replicas };
      });
      let current = shards;
      const seen = new Set<string>();
      for (let step = 0; ; step++) {
        const key = current.map((s) => s.master.id + s.master.machine).join();
        expect(seen.has(key), `layout revisited after ${step} moves`).toBe(false);
        seen.add(key);
        const move = planPrimaryMove(current);
        if (!move) break;
        const next = apply(current, move);
        expect(spreadMeasure(next)).toBeLessThanOrEqual(spreadMeasure(current));
        current = next;
      }
      expect(spreadMeasure(current)).toBe(bestMeasure(shards));
    }
  });
});

interface NodeOpts {
  id: string;
  master?: string;
  slots?: boolean;
  offset?: number;
  link?: 'up' | 'down';
}

function views(nodes: NodeOpts[], silent: string[] = []): NodeReport[] {
  const line = (n: NodeOpts, self: boolean): ClusterNodeView => ({
    id: n.id,
    ip: '127.0.0.1',
    port: 7000 + nodes.indexOf(n),
    busPort: 17000 + nodes.indexOf(n),
    flags: [...(self ? (['myself'] as const) : []), n.master ? 'slave' : 'master'],
    role: n.master ? 'replica' : 'master',
    ...(n.master ? { masterId: n.master } : {}),
    pingSent: 0,
    pongReceived: 0,
    configEpoch: nodes.indexOf(n) + 1,
    linkState: 'connected',
    slots: n.slots ? [{ start: nodes.indexOf(n) * 100, end: nodes.indexOf(n) * 100 + 99 }] : [],
    openSlots: [],
  });
  return nodes
    .filter((n) => !silent.includes(n.id))
    .map((n): NodeReport => ({
      address: { ip: '127.0.0.1', port: 7000 + nodes.indexOf(n) },
      myId: n.id,
      nodes: nodes.map((v) => line(v, v === n)),
      clusterState: 'ok',
      clusterInfo: {},
      replication: n.master
        ? {
            role: 'slave',
            master_link_status: n.link ?? 'up',
            master_sync_in_progress: '0',
            slave_repl_offset: String(n.offset ?? 5000),
          }
        : { role: 'master', master_repl_offset: '5000' },
      keys: 0,
    }));
}

describe('primary balance: the shards of a view', () => {
  const machine: Record<string, string> = { m1: 'A', m2: 'A', r1: 'B', r2: 'C', r3: 'B' };
  const nodes: NodeOpts[] = [
    { id: 'm1', slots: true },
    { id: 'm2', slots: true },
    { id: 'r1', master: 'm1' },
    { id: 'r2', master: 'm2', link: 'down' },
    { id: 'r3', master: 'm2', offset: 5000 - (2 << 20) },
  ];

  it('keeps only replicas in sync with their master: link up, not lagging', () => {
    expect(shardLayouts(buildView(views(nodes)), (id) => machine[id])).toEqual([
      { master: { id: 'm1', machine: 'A' }, replicas: [{ id: 'r1', machine: 'B' }] },
      { master: { id: 'm2', machine: 'A' }, replicas: [] },
    ]);
    expect(shardLayouts(buildView(views(nodes)), (id) => machine[id], 4 << 20)?.[1]?.replicas).toEqual([{ id: 'r3', machine: 'B' }]);
  });

  it('leaves out a replica whose machine is not known', () => {
    const layouts = shardLayouts(buildView(views(nodes)), (id) => (id === 'r1' ? undefined : machine[id]));
    expect(layouts?.[0]?.replicas).toEqual([]);
  });

  it('cannot judge the spread when a master does not answer or its machine is not known', () => {
    expect(shardLayouts(buildView(views(nodes, ['m1'])), (id) => machine[id])).toBeUndefined();
    expect(shardLayouts(buildView(views(nodes)), (id) => (id === 'm2' ? undefined : machine[id]))).toBeUndefined();
  });
});
