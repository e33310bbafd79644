// Primary balance: which machine holds more masters than the placement of the replicas requires,
// and the one graceful CLUSTER FAILOVER that spreads them more evenly. Pure.
//
// The spread is measured by the sum of the squares of the masters each machine holds. A failover
// moves one master from the machine of its master to the machine of a replica. A layout is as even
// as the replicas allow exactly when no chain of failovers (each one a shard whose master is on the
// machine the previous one moved a master to) leads from a machine X to a machine Z holding at least
// two masters fewer: the chain would lower the measure by moving one master from X to Z. The move
// taken is the first failover of the shortest such chain. A chain of one lowers the measure; in a
// shortest longer one every machine on the way holds one master fewer than X and one more than Z,
// so its first failover keeps the measure and leaves a shorter chain. Each move thus lowers the
// measure or, keeping it, the length of the shortest chain: moves never go back and forth.
import { mastersWithSlots, replicasOfNode, type ClusterView, type ViewNode } from '../view.js';
import { byName } from './common.js';

/** A shard as the balance sees it: where its master runs, and where replicas that can take over run. */
export interface ShardLayout {
  master: { id: string; machine: string };
  /** Replicas a graceful failover can promote now: answering, in sync with a master that answers. */
  replicas: { id: string; machine: string }[];
}

/** One failover that spreads the masters more evenly. */
export interface PrimaryMove {
  masterId: string;
  /** The replica that takes over. */
  replicaId: string;
  /** The machine the master leaves and the one it moves to. */
  from: string;
  to: string;
  /** Masters held by `from` and `to` before the move, and in all. */
  heldFrom: number;
  heldTo: number;
  masters: number;
  /** Where the chain of failovers this move begins ends, and how many moves it takes. */
  toward: string;
  moves: number;
}

/** Masters per machine; a machine that only runs replicas holds 0. */
export function mastersPerMachine(shards: readonly ShardLayout[]): Map<string, number> {
  const held = new Map<string, number>();
  for (const s of shards) for (const r of s.replicas) held.set(r.machine, held.get(r.machine) ?? 0);
  for (const s of shards) held.set(s.master.machine, (held.get(s.master.machine) ?? 0) + 1);
  return held;
}

/** The sum of the squares of the masters each machine holds: lower is more even. */
export function spreadMeasure(shards: readonly ShardLayout[]): number {
  let sum = 0;
  for (const n of mastersPerMachine(shards).values()) sum += n * n;
  return sum;
}

interface Edge {
  shard: ShardLayout;
  replicaId: string;
  to: string;
}

/** Failovers by the machine whose master they move, in a fixed order (by master, then replica id). */
function failoversByMachine(shards: readonly ShardLayout[]): Map<string, Edge[]> {
  const out = new Map<string, Edge[]>();
  const sorted = [...shards].sort((a, b) => byName(a.master.id, b.master.id));
  for (const shard of sorted) {
    const replicas = [...shard.replicas].sort((a, b) => byName(a.id, b.id));
    for (const r of replicas) {
      if (r.machine === shard.master.machine) continue;
      const list = out.get(shard.master.machine) ?? [];
      list.push({ shard, replicaId: r.id, to: r.machine });
      out.set(shard.master.machine, list);
    }
  }
  return out;
}

/** Breadth-first from `start`: the first failover of the shortest chain to each reachable machine. */
function chainsFrom(start: string, edges: Map<string, Edge[]>): Map<string, { first: Edge; moves: number }> {
  const reached = new Map<string, { first: Edge; moves: number }>();
  let frontier: { machine: string; first?: Edge }[] = [{ machine: start }];
  for (let moves = 1; frontier.length > 0; moves++) {
    const next: typeof frontier = [];
    for (const { machine, first } of frontier) {
      for (const e of edges.get(machine) ?? []) {
        if (e.to === start || reached.has(e.to)) continue;
        const chainStart = first ?? e;
        reached.set(e.to, { first: chainStart, moves });
        next.push({ machine: e.to, first: chainStart });
      }
    }
    frontier = next;
  }
  return reached;
}

type Chain = { from: string; to: string; moves: number; gap: number };
const preferred = (a: Chain, b: Chain): number => a.moves - b.moves || b.gap - a.gap || byName(a.from, b.from) || byName(a.to, b.to);

/**
 * The failover that spreads the masters more evenly, or none when they are as even as the replicas
 * allow. The shortest chain wins; among chains as short, the largest difference in masters held,
 * then machine names.
 */
export function planPrimaryMove(shards: readonly ShardLayout[]): PrimaryMove | undefined {
  const held = mastersPerMachine(shards);
  const edges = failoversByMachine(shards);
  let best: { from: string; to: string; first: Edge; moves: number; gap: number } | undefined;
  for (const from of held.keys()) {
    for (const [to, chain] of chainsFrom(from, edges)) {
      const gap = held.get(from)! - held.get(to)!;
      if (gap < 2) continue;
      const candidate = { from, to, first: chain.first, moves: chain.moves, gap };
      if (!best || preferred(candidate, best) < 0) best = candidate;
    }
  }
  if (!best) return undefined;
  const { first } = best;
  return {
    masterId: first.shard.master.id,
    replicaId: first.replicaId,
    from: best.from,
    to: first.to,
    heldFrom: held.get(best.from)!,
    heldTo: held.get(first.to)!,
    masters: shards.length,
    toward: best.to,
    moves: best.moves,
  };
}

/** How a replica's own INFO must read for a graceful failover to promote it without a long pause. */
export function replicaInSync(replica: ViewNode, master: ViewNode, maxLagBytes: number): boolean {
  const r = replica.report?.replication;
  const m = master.report?.replication;
  if (!r || !m || r['master_link_status'] !== 'up' || r['master_sync_in_progress'] !== '0') return false;
  const lag = Number(m['master_repl_offset']) - Number(r['slave_repl_offset']);
  return Number.isFinite(lag) && lag <= maxLagBytes;
}

/**
 * The shards of a view, each master and replica on the machine `machineOf` names. Undefined when a
 * slot-owning master does not answer or its machine is not known: the spread cannot be judged.
 * Replicas whose machine is not known, or not in sync, are left out.
 */
export function shardLayouts(
  view: ClusterView,
  machineOf: (id: string) => string | undefined,
  maxLagBytes = 1 << 20,
): ShardLayout[] | undefined {
  const out: ShardLayout[] = [];
  for (const m of mastersWithSlots(view)) {
    const machine = machineOf(m.id);
    if (!m.report || machine === undefined) return undefined;
    const replicas = replicasOfNode(view, m.id)
      .filter((r) => replicaInSync(r, m, maxLagBytes))
      .flatMap((r) => {
        const at = machineOf(r.id);
        return at === undefined ? [] : [{ id: r.id, machine: at }];
      });
    out.push({ master: { id: m.id, machine }, replicas });
  }
  return out;
}
