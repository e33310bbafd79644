// The executor: the engine steps that change a Redis cluster.
export { ensureCreated, slotSignature, type CreateOptions } from './create.js';
export { migrateSlots, resumeOpenSlots, type MigrateOptions, type MigrateProgress, type MigrateResult, type ResumeResult } from './migrate.js';
export { ClusterMap, readClusterMap, keySlot, waitFor, sleep, type NodeState } from './util.js';
