// Reshard planning: weighted targets, minimal-move rebalance, scale-out, scale-in, parallel waves,
// bounded chunks and resuming from live ownership. Pure and deterministic.
import { compactRanges, countSlots, rangesToSlots, slotsToRanges } from '../topology.js';
import { SLOT_COUNT, type ReshardPlan, type SlotMove } from '../types.js';
import { weightOf, type Owners, type Weights } from './common.js';

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
  const owned = new Map(ids.map((id) => [id, countSlots(compactRanges(owners.get(id)!))]));
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
  // Rounding of non-integer weights can leave a slot or two; they go to the largest weights.
  const heaviest = ids.filter((id) => w.get(id)! > 0).sort((a, b) => w.get(b)! - w.get(a)! || (a < b ? -1 : 1));
  for (let i = 0; assigned < total; i++, assigned++) {
    const id = heaviest[i % heaviest.length]!;
    targets.set(id, targets.get(id)! + 1);
  }
  return targets;
}

/** The fewest slots any plan must move to reach `targets`: what the over-full masters hold above theirs. */
export function minimalMoveCount(owners: Owners, targets: Map<string, number>): number {
  let n = 0;
  for (const [id, ranges] of owners) n += Math.max(0, countSlots(compactRanges(ranges)) - (targets.get(id) ?? 0));
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
  const slotOwner = ownerOfSlots(owners);
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
    // The bottom piece to the receiver owning the slot just below the block, the top piece to the one
    // owning the slot just above, so their ranges grow contiguously; the rest in slot order between.
    const below = slotOwner[leaving[0]! - 1];
    const above = slotOwner[leaving[leaving.length - 1]! + 1];
    const place = (id: string) => (id === below ? 0 : id === above ? 2 : 1);
    const low = (id: string) => receivers.find((r) => r.id === id)!.low;
    const shares = [...(given.get(g.id) ?? [])].sort(
      (a, b) => place(a.targetId) - place(b.targetId) || low(a.targetId) - low(b.targetId) || (a.targetId < b.targetId ? -1 : 1),
    );
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
