// The pure planner: cluster state in, plan out. No I/O, deterministic (same input, same plan), so a
// plan recomputed from live ownership after an interruption continues where the last one stopped.
export { type Owners, type Weights } from './planner/common.js';
export { antiAffinityScore, planCreate, splitSlots } from './planner/create.js';
export {
  applyMoves,
  arrangeWaves,
  chooseMastersToRemove,
  minimalMoveCount,
  planChunk,
  planRebalance,
  planScaleIn,
  planScaleOut,
  rebalanceTargets,
  remainingMoves,
} from './planner/reshard.js';
export { planReplicas, type ReplicaDesire } from './planner/replicas.js';
