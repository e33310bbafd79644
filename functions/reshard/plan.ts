// What the next step of a reshard is, from live ownership and the spec alone: pure, so a plan
// recomputed after any interruption (function, node, or both) continues where the last one stopped.
import type { ReshardStatus } from '../../shared/api/index.js';
import { kubeTime } from '../../shared/kube/time.js';
import { chooseMastersToRemove, planRebalance, planScaleIn, planScaleOut } from '../../shared/redis/planner/reshard.js';
import { countSlots, formatRange } from '../../shared/redis/topology.js';
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
  if (!Number.isInteger(desiredMasters) || desiredMasters < 1) throw new Error(`desiredMasters must be a positive whole number, got ${desiredMasters}`);
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
  const running = prev?.state === 'Running' && prev.slotsTotal !== undefined;
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
