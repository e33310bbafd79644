// What the next step of a reshard is, from live ownership and the spec alone: pure, so a plan
// recomputed after any interruption (function, node, or both) continues where the last one stopped.
import type { ConditionReason } from '../../shared/api/conditions.js';
import type { ReshardStatus } from '../../shared/api/index.js';
import { kubeTime } from '../../shared/kube/time.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import { chooseMastersToRemove, planRebalance, planScaleIn, planScaleOut } from '../../shared/redis/planner/reshard.js';
import { countSlots, formatRange, slotsToRanges } from '../../shared/redis/topology.js';
import { liveMasters, type ClusterView } from '../../shared/redis/view.js';
import type { ReshardPlan, SlotMove, SlotRange } from '../../shared/redis/types.js';

export type Operation = 'Rebalance' | 'Drain';

export interface ReshardIntent {
  operation: Operation;
  plan: ReshardPlan;
  /** Masters being drained (scale-in). */
  victims: string[];
  /** Empty masters being filled (scale-out). */
  receivers: string[];
  /** Slots still to move. */
  slots: number;
}

/**
 * The plan towards `desiredMasters` slot-owning masters.
 * - fewer owners than desired and empty masters joined: fill the empties (lowest ids first), taking
 *   only from over-full masters;
 * - more owners than desired: drain the cheapest (fewest keys, then fewest slots); a partly drained
 *   master is the cheapest again next time, so the choice holds across chunks;
 * - otherwise: even out what is uneven (no moves on a balanced cluster).
 * `masters` maps every live master id (empty ones too) to its slot ranges.
 */
export function planReshard(masters: Map<string, SlotRange[]>, desiredMasters: number, keys?: Map<string, number>): ReshardIntent {
  if (!Number.isInteger(desiredMasters) || desiredMasters < 1)
    throw new Error(`desiredMasters must be a positive whole number, got ${desiredMasters}`);
  const owners = new Map([...masters].filter(([, ranges]) => countSlots(ranges) > 0));
  const empty = [...masters.keys()].filter((id) => !owners.has(id)).sort();
  let operation: Operation = 'Rebalance';
  let plan: ReshardPlan;
  let victims: string[] = [];
  let receivers: string[] = [];
  if (owners.size === 0) throw new Error('no master owns a slot: the cluster is not formed');
  if (owners.size < desiredMasters && empty.length > 0) {
    receivers = empty.slice(0, desiredMasters - owners.size);
    plan = planScaleOut(owners, receivers);
  } else if (owners.size > desiredMasters) {
    operation = 'Drain';
    victims = chooseMastersToRemove(owners, owners.size - desiredMasters, keys);
    plan = planScaleIn(owners, victims);
  } else {
    plan = planRebalance(owners);
  }
  const slots = plan.moves.reduce((n, m) => n + countSlots(m.slots), 0);
  return { operation, plan, victims, receivers, slots };
}

/** Moves as the status shows them (`currentMoves`), at most `limit` entries. */
export function statusMoves(moves: SlotMove[], limit = 256): NonNullable<ReshardStatus['currentMoves']> {
  return moves.slice(0, limit).map((m) => ({ source: m.sourceId, target: m.targetId, slots: m.slots.slice(0, 1024).map(formatRange) }));
}

export interface Progress {
  slotsTotal: number;
  slotsDone: number;
  keysMoved: number;
  startedAt: string;
}

/**
 * Progress of the reshard under way: totals carry over from the status while it says Running, a new
 * reshard starts from zero; when the work grew (the spec changed meanwhile) the total grows with it.
 */
export function progressOf(prev: ReshardStatus | undefined, remainingSlots: number, now: Date): Progress {
  // A reshard resumed after a pause goes on counting from where it stopped.
  const running = (prev?.state === 'Running' || prev?.state === 'Paused') && prev.slotsTotal !== undefined;
  const done = running ? (prev.slotsDone ?? 0) : 0;
  const total = running ? Math.max(prev.slotsTotal!, done + remainingSlots) : remainingSlots;
  return {
    slotsTotal: total,
    slotsDone: Math.max(0, total - remainingSlots),
    keysMoved: running ? (prev.keysMoved ?? 0) : 0,
    startedAt: (running && prev.startedAt) || kubeTime(now),
  };
}

/** The RESHARD column: `36% (3031/8192 slots)`, or `done (8192 slots)` once completed. */
export function progressText(done: number, total: number, state?: string): string {
  if (state === 'Completed') return `done (${total} slots)`;
  return `${total ? Math.floor((100 * done) / total) : 100}% (${done}/${total} slots)`;
}

/** Reachable masters that have joined: a node that knows only itself is a Pod reconcile has yet to place. */
function joinedMasters(map: ClusterView) {
  return liveMasters(map).filter((m) => (map.reports.find((r) => r.myId === m.id)?.nodes.length ?? 0) > 1);
}

/**
 * Why the cluster cannot be planned on now: a slot without a reachable master, a slot still open,
 * or a node that has yet to learn of a master (one just joined: gossip takes a moment). A node that
 * does not know a slot's new owner keeps sending clients to the old one, which sends them back:
 * a client following redirects gives up after a few rounds.
 */
export function unsettled(map: ClusterView): string | undefined {
  let orphan = 0;
  let first = -1;
  for (let s = 0; s < 16384; s++) {
    const owner = map.owners[s];
    const node = owner ? map.nodes.get(owner) : undefined;
    if (!node?.report || node.role !== 'master') {
      orphan++;
      if (first < 0) first = s;
    }
  }
  if (orphan) return `${orphan} slots (first ${first}) have no reachable master`;
  const open = liveMasters(map).flatMap((m) => m.line.openSlots);
  if (open.length) return `${open.length} slots are still open (first ${open[0]!.slot})`;
  const masters = joinedMasters(map).map((m) => m.id);
  for (const r of map.reports.filter((x) => x.nodes.length > 1)) {
    const known = new Set(r.nodes.filter((v) => !v.flags.includes('handshake') && !v.flags.includes('noaddr')).map((v) => v.id));
    const unknown = masters.find((id) => !known.has(id));
    if (unknown) return `${endpointKey(r.address)} does not know master ${unknown} yet`;
  }
  return undefined;
}

/** Every joined master (empty ones too) with the slot ranges it owns: planReshard's input. */
export function slotsByMaster(map: ClusterView): Map<string, SlotRange[]> {
  const byId = new Map<string, number[]>(joinedMasters(map).map((m) => [m.id, []]));
  map.owners.forEach((id, slot) => {
    if (id) byId.get(id)?.push(slot);
  });
  return new Map([...byId].map(([id, slots]) => [id, slotsToRanges(slots)]));
}

/** The Resharding condition's reason for this intent. */
export function operationReason(intent: ReshardIntent): ConditionReason<'Resharding'> {
  if (intent.operation === 'Drain') return 'ScaleIn';
  return intent.receivers.length ? 'ScaleOut' : 'Rebalance';
}

/** The mode a progress event names. */
export function reshardMode(intent: ReshardIntent): 'scale-in' | 'scale-out' | 'rebalance' {
  if (intent.operation === 'Drain') return 'scale-in';
  return intent.receivers.length ? 'scale-out' : 'rebalance';
}

/** What the reshard is doing, in the words of its status and Events. */
export function describeIntent(intent: ReshardIntent): string {
  if (intent.operation === 'Drain') return `draining ${intent.victims.join(', ')} over the other masters`;
  if (intent.receivers.length) return `filling new masters ${intent.receivers.join(', ')}`;
  return 'evening out the slots';
}

/**
 * The counts after a chunk that moved `moved` of `planned` slots. What is left comes from a fresh
 * plan (`left`) when the cluster could be planned on, else from what the chunk moved; the total
 * only grows, so the shown progress never goes back.
 */
export function progressAfter(
  progress: Progress,
  planned: number,
  moved: number,
  left: number | undefined,
): { slotsTotal: number; slotsDone: number } {
  const remaining = left ?? Math.max(0, planned - moved);
  const slotsTotal = Math.max(progress.slotsTotal, progress.slotsDone + moved + remaining);
  return { slotsTotal, slotsDone: Math.max(0, slotsTotal - remaining) };
}

/** A late or repeated request after a finished reshard (nothing to move) keeps that reshard's record. */
export function keepsRecord(prev: ReshardStatus | undefined, slotsTotal: number): boolean {
  return slotsTotal === 0 && prev !== undefined && prev.state !== 'Running' && prev.state !== 'Paused';
}

/** The RESHARD column's text for a write that carries both counts. */
export function shownProgress(reshard: Partial<ReshardStatus>): { progress?: string } {
  return reshard.slotsDone !== undefined && reshard.slotsTotal !== undefined
    ? { progress: progressText(reshard.slotsDone, reshard.slotsTotal, reshard.state) }
    : {};
}
