// What the planner modules share: the ownership and weight shapes and deterministic name order. Every
// planner is pure and deterministic (same input, same plan), so a plan recomputed from live ownership
// after an interruption continues where the last one stopped.
import type { SlotRange } from '../types.js';

/** Slot ranges per master id; a master with no slot maps to []. */
export type Owners = Map<string, SlotRange[]>;
export type Weights = Map<string, number> | Record<string, number>;

/** Natural order of names (redis-2 before redis-10), so plans do not depend on input order. */
export const byName = new Intl.Collator('en', { numeric: true }).compare;

export function weightOf(weights: Weights | undefined, id: string): number | undefined {
  if (!weights) return undefined;
  return weights instanceof Map ? weights.get(id) : weights[id];
}
