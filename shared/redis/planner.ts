// The pure planner: cluster state in, plan out. No I/O, deterministic (same input, same plan), so a
// plan recomputed from live ownership after an interruption continues where the last one stopped.
import { isUsable, slotsToRanges, rangesToSlots, countSlots, compactRanges } from './topology.js';
import {
  SLOT_COUNT,
  type ClusterNodeView,
  type CreatePlan,
  type DesiredNode,
  type ReplicaPlan,
  type ReshardPlan,
  type SlotMove,
  type SlotRange,
} from './types.js';

/** Slot ranges per master id; a master with no slot maps to []. */
export type Owners = Map<string, SlotRange[]>;
export type Weights = Map<string, number> | Record<string, number>;

const byName = new Intl.Collator('en', { numeric: true }).compare;

function weightOf(weights: Weights | undefined, id: string): number | undefined {
  if (!weights) return undefined;
  return weights instanceof Map ? weights.get(id) : weights[id];
}

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

/**
 * redis-cli's floating-cursor split of the 16384 slots into `masters` contiguous ranges
 * (3 masters: 0-5460, 5461-10922, 10923-16383).
 */
export function splitSlots(masters: number): SlotRange[] {
  if (!Number.isInteger(masters) || masters < 1 || masters > SLOT_COUNT) {
    throw new Error(`masters must be an integer from 1 to ${SLOT_COUNT}, got ${masters}`);
  }
  const per = SLOT_COUNT / masters;
  const out: SlotRange[] = [];
  let first = 0;
  let cursor = 0;
  for (let i = 0; i < masters; i++) {
    let last = Math.round(cursor + per - 1);
    if (last > SLOT_COUNT - 1 || i === masters - 1) last = SLOT_COUNT - 1;
    out.push({ start: first, end: last });
    first = last + 1;
    cursor += per;
  }
  return out;
}

/** A shard during layout: index 0 is the master, the rest its replicas. */
type Layout = DesiredNode[][];

// Weights: a replica in its master's domain dwarfs everything; then masters sharing a domain; then
// replicas of one master sharing a domain (redis-cli's anti-affinity score, by domain instead of ip).
const SAME_AS_MASTER = 10000;
const MASTERS_TOGETHER = 100;
const SIBLINGS_TOGETHER = 1;

function pairs(counts: Iterable<number>): number {
  let n = 0;
  for (const c of counts) n += (c * (c - 1)) / 2;
  return n;
}

function domainCounts(nodes: DesiredNode[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of nodes) m.set(n.domain, (m.get(n.domain) ?? 0) + 1);
  return m;
}

/** The anti-affinity score of a layout; 0 is perfect. */
export function antiAffinityScore(layout: Layout): number {
  let score = MASTERS_TOGETHER * pairs(domainCounts(layout.map((shard) => shard[0]!)).values());
  for (const [master, ...replicas] of layout) {
    score += SAME_AS_MASTER * replicas.filter((r) => r.domain === master!.domain).length;
    score += SIBLINGS_TOGETHER * pairs(domainCounts(replicas).values());
  }
  return score;
}

/**
 * The initial layout of a new cluster: `masters` masters (spread across domains) with
 * `replicasPerMaster` replicas each, none in its master's domain when the domains allow it.
 */
export function planCreate(nodes: DesiredNode[], masters: number, replicasPerMaster: number): CreatePlan {
  if (!Number.isInteger(masters) || masters < 1) throw new Error(`masters must be a positive integer, got ${masters}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a non-negative integer, got ${replicasPerMaster}`);
  }
  const needed = masters * (1 + replicasPerMaster);
  if (nodes.length !== needed) {
    throw new Error(`nodes: ${masters} masters with ${replicasPerMaster} replicas each need ${needed} nodes, got ${nodes.length}`);
  }
  const names = new Set<string>();
  for (const n of nodes) {
    if (!n.name) throw new Error('nodes: every node needs a name');
    if (names.has(n.name)) throw new Error(`nodes: duplicate name ${n.name}`);
    names.add(n.name);
  }

  // Interleave by domain (redis-cli interleaves by ip): first of each domain, then second, ...
  const sorted = [...nodes].sort((a, b) => byName(a.name, b.name));
  const groups = new Map<string, DesiredNode[]>();
  for (const n of sorted) groups.set(n.domain, [...(groups.get(n.domain) ?? []), n]);
  const interleaved: DesiredNode[] = [];
  for (let round = 0; interleaved.length < sorted.length; round++) {
    for (const g of groups.values()) if (g[round]) interleaved.push(g[round]!);
  }

  // Greedy start: each master takes, round by round, the first free node outside its own domain and
  // its replicas' domains, else outside its own domain, else the first free node.
  const layout: Layout = interleaved.slice(0, masters).map((m) => [m]);
  const free = interleaved.slice(masters);
  for (let round = 0; round < replicasPerMaster; round++) {
    for (const shard of layout) {
      const taken = new Set(shard.map((n) => n.domain));
      let i = free.findIndex((n) => !taken.has(n.domain));
      if (i < 0) i = free.findIndex((n) => n.domain !== shard[0]!.domain);
      if (i < 0) i = 0;
      shard.push(free.splice(i, 1)[0]!);
    }
  }

  // Improve by swapping any two nodes (a swap inside one shard changes its master) while the score
  // strictly drops: deterministic, and it terminates because the score is a non-negative integer.
  let score = antiAffinityScore(layout);
  const positions: [number, number][] = [];
  layout.forEach((shard, s) => shard.forEach((_, k) => positions.push([s, k])));
  let improved = score > 0;
  while (improved && score > 0) {
    improved = false;
    for (let i = 0; i < positions.length; i++) {
      for (let j = i + 1; j < positions.length; j++) {
        const [si, ki] = positions[i]!;
        const [sj, kj] = positions[j]!;
        const a = layout[si]![ki]!;
        const b = layout[sj]![kj]!;
        if (a.domain === b.domain) continue;
        layout[si]![ki] = b;
        layout[sj]![kj] = a;
        const next = antiAffinityScore(layout);
        if (next < score) {
          score = next;
          improved = true;
        } else {
          layout[si]![ki] = a;
          layout[sj]![kj] = b;
        }
      }
    }
  }

  const ranges = splitSlots(masters);
  return {
    masters: layout.map((shard, i) => ({ node: shard[0]!.name, slots: [ranges[i]!] })),
    replicas: layout.flatMap((shard) => shard.slice(1).map((r) => ({ node: r.name, masterNode: shard[0]!.name }))),
  };
}

// ---------------------------------------------------------------------------------------------
// Reshard: rebalance, scale-out, scale-in
// ---------------------------------------------------------------------------------------------

/** Checks ownership: ranges inside 0..16383 and no slot owned twice. Returns the slot -> owner map. */
function ownerOfSlots(owners: Owners): (string | undefined)[] {
  const owner: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
  for (const [id, ranges] of owners) {
    if (!id) throw new Error('owners: a master id is empty');
    for (const r of ranges) {
      if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end >= SLOT_COUNT || r.start > r.end) {
        throw new Error(`owners: master ${id} has an invalid slot range ${r.start}-${r.end}`);
      }
      for (let s = r.start; s <= r.end; s++) {
        const prev = owner[s];
        if (prev !== undefined && prev !== id) throw new Error(`owners: slot ${s} is owned by both ${prev} and ${id}`);
        owner[s] = id;
      }
    }
  }
  return owner;
}

/**
 * Slot targets per master from weights (default 1; 0 drains): each gets the floor or the ceil of its
 * share of the owned slots, and the ceils go where they save a move (masters that already hold more
 * than the floor, the fullest first).
 */
export function rebalanceTargets(owners: Owners, weights?: Weights): Map<string, number> {
  ownerOfSlots(owners);
  const ids = [...owners.keys()].sort();
  const owned = new Map(ids.map((id) => [id, countSlots(owners.get(id)!)]));
  const total = [...owned.values()].reduce((a, b) => a + b, 0);
  const w = new Map<string, number>();
  for (const id of ids) {
    const v = weightOf(weights, id) ?? 1;
    if (!Number.isFinite(v) || v < 0) throw new Error(`weights: ${id} must be a finite number >= 0, got ${v}`);
    w.set(id, v);
  }
  if (weights) {
    const keys = weights instanceof Map ? [...weights.keys()] : Object.keys(weights);
    for (const k of keys) if (!owners.has(k)) throw new Error(`weights: ${k} is not a master in owners`);
  }
  const weightSum = [...w.values()].reduce((a, b) => a + b, 0);
  if (weightSum === 0 && total > 0) throw new Error('weights: at least one master needs a weight above 0');

  const targets = new Map<string, number>();
  const frac = new Map<string, number>();
  let assigned = 0;
  for (const id of ids) {
    const quota = weightSum === 0 ? 0 : (total * w.get(id)!) / weightSum;
    const floor = Math.floor(quota + 1e-9);
    targets.set(id, floor);
    frac.set(id, quota - floor);
    assigned += floor;
  }
  const ceilCandidates = ids
    .filter((id) => frac.get(id)! > 1e-9)
    .sort((a, b) => {
      const gainA = owned.get(a)! > targets.get(a)! ? 1 : 0;
      const gainB = owned.get(b)! > targets.get(b)! ? 1 : 0;
      return gainB - gainA || owned.get(b)! - owned.get(a)! || frac.get(b)! - frac.get(a)! || (a < b ? -1 : 1);
    });
  for (const id of ceilCandidates) {
    if (assigned >= total) break;
    targets.set(id, targets.get(id)! + 1);
    assigned++;
  }
  return targets;
}

/** The fewest slots any plan must move to reach `targets`: what the over-full masters hold above theirs. */
export function minimalMoveCount(owners: Owners, targets: Map<string, number>): number {
  let n = 0;
  for (const [id, ranges] of owners) n += Math.max(0, countSlots(ranges) - (targets.get(id) ?? 0));
  return n;
}

/**
 * Arranges moves into waves in which no node appears twice, using as many waves as the busiest node
 * has moves (bipartite edge colouring: sources and targets never overlap in one plan).
 */
export function arrangeWaves(moves: SlotMove[]): SlotMove[][] {
  // at.get(node).get(colour) = index of the move with that colour at that node.
  const at = new Map<string, Map<number, number>>();
  const colour: number[] = [];
  const slotsAt = (node: string) => {
    let m = at.get(node);
    if (!m) at.set(node, (m = new Map()));
    return m;
  };
  const freeColour = (node: string) => {
    const used = slotsAt(node);
    let c = 0;
    while (used.has(c)) c++;
    return c;
  };
  const ends = (i: number): [string, string] => [moves[i]!.sourceId, moves[i]!.targetId];
  const sources = new Set(moves.map((m) => m.sourceId));
  // Only a stale plan resumed against moved ownership can make a node both give and receive; then the
  // graph is not bipartite and a plain greedy colouring keeps the waves disjoint.
  const bipartite = !moves.some((m) => sources.has(m.targetId));
  moves.forEach((_, i) => {
    const [u, v] = ends(i);
    if (!bipartite) {
      let c = 0;
      while (slotsAt(u).has(c) || slotsAt(v).has(c)) c++;
      colour[i] = c;
      slotsAt(u).set(c, i);
      slotsAt(v).set(c, i);
      return;
    }
    const a = freeColour(u);
    const b = freeColour(v);
    if (slotsAt(v).has(a)) {
      // Swap colours a and b along the a/b path from v; afterwards a is free at v and still at u.
      const path: number[] = [];
      let node = v;
      let c = a;
      for (;;) {
        const e = slotsAt(node).get(c);
        if (e === undefined) break;
        path.push(e);
        const [eu, ev] = ends(e);
        node = eu === node ? ev : eu;
        c = c === a ? b : a;
      }
      for (const e of path) for (const end of ends(e)) slotsAt(end).delete(colour[e]!);
      for (const e of path) {
        colour[e] = colour[e] === a ? b : a;
        for (const end of ends(e)) slotsAt(end).set(colour[e]!, e);
      }
    }
    colour[i] = a;
    slotsAt(u).set(a, i);
    slotsAt(v).set(a, i);
  });
  const waves: SlotMove[][] = [];
  moves.forEach((m, i) => {
    (waves[colour[i]!] ??= []).push(m);
  });
  return waves
    .filter((w) => w && w.length > 0)
    .map((w) => w.sort((x, y) => (x.sourceId < y.sourceId ? -1 : x.sourceId > y.sourceId ? 1 : x.targetId < y.targetId ? -1 : 1)));
}

function toPlan(moves: SlotMove[], drained: string[]): ReshardPlan {
  const waves = arrangeWaves(moves);
  return { moves: waves.flat(), waves, drained };
}

/** Groups slot -> (source, target) assignments into one compact SlotMove per pair. */
function groupMoves(assignments: { slot: number; sourceId: string; targetId: string }[]): SlotMove[] {
  const pairsOf = new Map<string, { sourceId: string; targetId: string; slots: number[] }>();
  for (const a of assignments) {
    const key = `${a.sourceId}\u0000${a.targetId}`;
    const p = pairsOf.get(key) ?? { sourceId: a.sourceId, targetId: a.targetId, slots: [] };
    p.slots.push(a.slot);
    pairsOf.set(key, p);
  }
  return [...pairsOf.values()].map((p) => ({ sourceId: p.sourceId, targetId: p.targetId, slots: slotsToRanges(p.slots) }));
}

/**
 * The generic reshard: the fewest slot moves that bring every master to its weighted target, taken
 * only from over-full masters (each gives its highest slots, so what it keeps stays contiguous) and
 * given to under-full ones, one SlotMove per (source, target) pair, arranged in parallel waves.
 */
export function planRebalance(owners: Owners, weights?: Weights): ReshardPlan {
  const targets = rebalanceTargets(owners, weights);
  const ids = [...owners.keys()].sort();
  const slotsOf = new Map(ids.map((id) => [id, rangesToSlots(compactRanges(owners.get(id)!))]));
  const givers = ids
    .map((id) => ({ id, n: slotsOf.get(id)!.length - targets.get(id)! }))
    .filter((g) => g.n > 0)
    .sort((a, b) => b.n - a.n || (a.id < b.id ? -1 : 1));
  const receivers = ids
    .map((id) => ({ id, n: targets.get(id)! - slotsOf.get(id)!.length, low: slotsOf.get(id)![0] ?? SLOT_COUNT }))
    .filter((r) => r.n > 0)
    .sort((a, b) => b.n - a.n || (a.id < b.id ? -1 : 1));

  // Pair the largest excess with the largest need, as redis-cli's rebalance does: at most
  // givers + receivers - 1 pairs, so few moves per node and few waves.
  const assignments: { slot: number; sourceId: string; targetId: string }[] = [];
  const given = new Map<string, { targetId: string; count: number }[]>();
  let gi = 0;
  let ri = 0;
  const giverLeft = givers.map((g) => g.n);
  const receiverLeft = receivers.map((r) => r.n);
  while (gi < givers.length && ri < receivers.length) {
    const n = Math.min(giverLeft[gi]!, receiverLeft[ri]!);
    const g = givers[gi]!.id;
    given.set(g, [...(given.get(g) ?? []), { targetId: receivers[ri]!.id, count: n }]);
    giverLeft[gi]! -= n;
    receiverLeft[ri]! -= n;
    if (giverLeft[gi] === 0) gi++;
    if (receiverLeft[ri] === 0) ri++;
  }
  for (const g of givers) {
    const slots = slotsOf.get(g.id)!;
    const leaving = slots.slice(slots.length - g.n);
    // Lower pieces to receivers whose own slots are lower, so neighbouring ranges meet where they can.
    const shares = [...(given.get(g.id) ?? [])].sort((a, b) => {
      const la = receivers.find((r) => r.id === a.targetId)!.low;
      const lb = receivers.find((r) => r.id === b.targetId)!.low;
      return la - lb || (a.targetId < b.targetId ? -1 : 1);
    });
    let k = 0;
    for (const share of shares) {
      for (let i = 0; i < share.count; i++) assignments.push({ slot: leaving[k++]!, sourceId: g.id, targetId: share.targetId });
    }
  }
  const drained = ids.filter((id) => targets.get(id) === 0 && slotsOf.get(id)!.length > 0);
  return toPlan(groupMoves(assignments), drained);
}

/** Scale-out: add `newMasters` (empty) and balance all masters with the fewest moves. */
export function planScaleOut(owners: Owners, newMasters: string[]): ReshardPlan {
  const all: Owners = new Map(owners);
  for (const id of newMasters) {
    if (!id) throw new Error('newMasters: an id is empty');
    if (!all.has(id)) all.set(id, []);
  }
  return planRebalance(all);
}

/**
 * Which `count` masters to remove: those whose removal moves the least, i.e. the fewest keys when a
 * key count per master is given, else the fewest slots (ties by id, for determinism).
 */
export function chooseMastersToRemove(owners: Owners, count: number, keys?: Weights): string[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}`);
  if (count >= owners.size) throw new Error(`count: removing ${count} of ${owners.size} masters leaves none`);
  const slots = (id: string) => countSlots(owners.get(id)!);
  return [...owners.keys()]
    .sort((a, b) => (weightOf(keys, a) ?? 0) - (weightOf(keys, b) ?? 0) || slots(a) - slots(b) || (a < b ? -1 : 1))
    .slice(0, count);
}

/**
 * Scale-in: drain the given masters (or the `count` cheapest ones) and spread their slots over all
 * survivors so that the survivors end balanced within one slot.
 */
export function planScaleIn(owners: Owners, remove: string[] | number, options: { keys?: Weights } = {}): ReshardPlan {
  const victims = typeof remove === 'number' ? chooseMastersToRemove(owners, remove, options.keys) : remove;
  for (const id of victims) if (!owners.has(id)) throw new Error(`remove: ${id} is not a master in owners`);
  if (new Set(victims).size >= owners.size) throw new Error('remove: at least one master must survive');
  const weights = new Map([...owners.keys()].map((id) => [id, victims.includes(id) ? 0 : 1]));
  const plan = planRebalance(owners, weights);
  // A victim that is already empty still has to leave the cluster.
  const drained = [...new Set([...plan.drained, ...victims])].sort();
  return { ...plan, drained };
}

/** Ownership after the moves; throws when a move takes a slot its source does not own. */
export function applyMoves(owners: Owners, moves: SlotMove[]): Owners {
  const owner = ownerOfSlots(owners);
  for (const m of moves) {
    for (const s of rangesToSlots(m.slots)) {
      if (owner[s] !== m.sourceId) throw new Error(`move ${m.sourceId}->${m.targetId}: slot ${s} is owned by ${owner[s] ?? 'nobody'}`);
      owner[s] = m.targetId;
    }
  }
  const out: Owners = new Map();
  for (const id of owners.keys()) out.set(id, []);
  for (const m of moves) if (!out.has(m.targetId)) out.set(m.targetId, []);
  const bySlot = new Map<string, number[]>();
  owner.forEach((id, s) => {
    if (id === undefined) return;
    const list = bySlot.get(id);
    if (list) list.push(s);
    else bySlot.set(id, [s]);
  });
  for (const [id, slots] of bySlot) out.set(id, slotsToRanges(slots));
  return out;
}

/**
 * What is left of `plan` given live ownership: slots already at their target are done; the others move
 * from whoever owns them now. Lets a caller resume a recorded plan after any interruption.
 */
export function remainingMoves(owners: Owners, plan: ReshardPlan): ReshardPlan {
  const owner = ownerOfSlots(owners);
  const assignments: { slot: number; sourceId: string; targetId: string }[] = [];
  for (const m of plan.moves) {
    for (const s of rangesToSlots(m.slots)) {
      const live = owner[s];
      if (live === m.targetId) continue;
      if (live === undefined) throw new Error(`slot ${s} has no owner; it cannot be migrated to ${m.targetId}`);
      assignments.push({ slot: s, sourceId: live, targetId: m.targetId });
    }
  }
  return toPlan(groupMoves(assignments), plan.drained);
}

/**
 * The next bounded piece of a plan: whole waves in order while at most `maxSlots` slots, the last
 * move(s) cut down to fit. Each move gives its highest slots first so the source stays contiguous.
 * Re-plan (or `remainingMoves`) from live ownership after running it, then take the next chunk.
 */
export function planChunk(plan: ReshardPlan, maxSlots: number): ReshardPlan {
  if (!Number.isInteger(maxSlots) || maxSlots < 1) throw new Error(`maxSlots must be a positive integer, got ${maxSlots}`);
  let budget = maxSlots;
  const waves: SlotMove[][] = [];
  let complete = true;
  for (const wave of plan.waves) {
    if (budget === 0) {
      complete = false;
      break;
    }
    const taken: SlotMove[] = [];
    for (const m of wave) {
      if (budget === 0) {
        complete = false;
        break;
      }
      const slots = rangesToSlots(m.slots);
      const n = Math.min(budget, slots.length);
      if (n < slots.length) complete = false;
      taken.push({ sourceId: m.sourceId, targetId: m.targetId, slots: slotsToRanges(slots.slice(slots.length - n)) });
      budget -= n;
    }
    waves.push(taken);
  }
  return { moves: waves.flat(), waves, drained: complete ? plan.drained : [] };
}

// ---------------------------------------------------------------------------------------------
// Replicas
// ---------------------------------------------------------------------------------------------

export interface ReplicaDesire {
  replicasPerMaster: number;
  /** Free nodes that may become replicas. */
  candidates: DesiredNode[];
  /** Failure domain by node id. */
  domains: Record<string, string>;
  /** Masters that should have replicas; default: usable masters that own slots. */
  masterIds?: string[];
  /** Replication offset by replica id; the lowest is the most lagging, removed first among equals. */
  offsets?: Record<string, number>;
}

/**
 * Which free nodes to attach to which master (fewest replicas first, a candidate outside the master's
 * and its replicas' domains first) and which replicas to remove where there are too many (one in its
 * master's domain first, then one sharing a domain with a sibling, then the most lagging).
 */
export function planReplicas(view: ClusterNodeView[], desired: ReplicaDesire): ReplicaPlan {
  const r = desired.replicasPerMaster;
  if (!Number.isInteger(r) || r < 0) throw new Error(`replicasPerMaster must be a non-negative integer, got ${r}`);
  const masterIds = (
    desired.masterIds ?? view.filter((n) => n.role === 'master' && isUsable(n) && n.slots.length > 0).map((n) => n.id)
  ).sort();
  for (const id of masterIds) {
    if (!view.some((n) => n.id === id && n.role === 'master')) throw new Error(`masterIds: ${id} is not a master in the view`);
  }
  const domainOf = (id: string) => desired.domains[id];
  const replicaDomains = new Map<string, (string | undefined)[]>();
  const replicasByMaster = new Map<string, ClusterNodeView[]>();
  for (const id of masterIds) {
    const replicas = view.filter((n) => n.role === 'replica' && n.masterId === id && isUsable(n));
    replicasByMaster.set(id, replicas);
    replicaDomains.set(id, replicas.map((n) => domainOf(n.id)));
  }

  const attach: ReplicaPlan['attach'] = [];
  const free = [...desired.candidates].sort((a, b) => byName(a.name, b.name));
  const good = (masterId: string, c: DesiredNode) =>
    c.domain !== domainOf(masterId) && !replicaDomains.get(masterId)!.includes(c.domain);
  for (;;) {
    const needy = masterIds.filter((id) => replicaDomains.get(id)!.length < r);
    if (needy.length === 0 || free.length === 0) break;
    needy.sort((a, b) => {
      const byCount = replicaDomains.get(a)!.length - replicaDomains.get(b)!.length;
      const options = (id: string) => free.filter((c) => good(id, c)).length;
      return byCount || options(a) - options(b) || (a < b ? -1 : 1);
    });
    const masterId = needy[0]!;
    let i = free.findIndex((c) => good(masterId, c));
    if (i < 0) i = free.findIndex((c) => c.domain !== domainOf(masterId));
    if (i < 0) i = 0;
    const node = free.splice(i, 1)[0]!;
    attach.push({ node: node.name, masterId });
    replicaDomains.get(masterId)!.push(node.domain);
  }

  const remove: string[] = [];
  for (const masterId of masterIds) {
    const kept = [...replicasByMaster.get(masterId)!];
    while (kept.length > r) {
      const badness = (n: ClusterNodeView) => {
        const d = domainOf(n.id);
        if (d !== undefined && d === domainOf(masterId)) return 2;
        if (d !== undefined && kept.some((o) => o !== n && domainOf(o.id) === d)) return 1;
        return 0;
      };
      const offset = (n: ClusterNodeView) => desired.offsets?.[n.id] ?? Number.MAX_SAFE_INTEGER;
      kept.sort((a, b) => badness(b) - badness(a) || offset(a) - offset(b) || (a.id < b.id ? 1 : -1));
      remove.push(kept.shift()!.id);
    }
  }
  return { attach, remove };
}
