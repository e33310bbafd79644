// What one migration run shares: its settings (from MigrateOptions), its view of the cluster, the
// masters' epochs it has seen, its totals, and how its commands fail.
import { isConnectionError, type RedisPool } from '../../connection.js';
import type { EngineAction, Endpoint, SlotMove } from '../../types.js';
import { liveMasters, readView, type ClusterView } from '../../view.js';
import { errorMessage } from '../../../errors.js';

export interface MigrateOptions {
  /** Upper bound of one MIGRATE call's payload (sampled with MEMORY USAGE). Default 4 MiB. */
  batchBytes?: number;
  /** Upper bound of keys in one MIGRATE call. Default 1000. */
  maxKeysPerBatch?: number;
  /** MIGRATE's idle timeout; keep it below cluster-node-timeout. Default 10000. */
  migrateTimeoutMs?: number;
  /** Run disjoint (source, target) pairs at the same time. Default true. */
  parallel?: boolean;
  /** Most slots of one pair open at the same time. Default 64. */
  slotsPerGroup?: number;
  /** Bytes moved per group round trip the group size adapts to. Default 8 MiB. */
  groupBytes?: number;
  /** Stop cleanly (between slot groups) once Date.now() passes this; the rest is reported. */
  deadline?: number;
  /** Stop cleanly (between slot groups) when aborted. */
  signal?: AbortSignal;
  /** Bounded wait for the target's replicas to reach its offset before a slot is handed over. */
  replicaWaitMs?: number;
  /** How long to wait for a replica to take over a failed source or target. Default 20000. */
  failoverWaitMs?: number;
  /**
   * One epoch bump and broadcast per slot group instead of per slot (see targetHandoverCmds).
   * Default true; false gives redis-cli's per-slot hand-over.
   */
  groupedHandover?: boolean;
  /** How long MIGRATE may keep meeting CLUSTERDOWN/TRYAGAIN before the pair stops. Default 30000. */
  clusterDownWaitMs?: number;
  /** Where to look for the nodes; default every endpoint the pool has seen. */
  endpoints?: Endpoint[];
  onProgress?(p: MigrateProgress): void;
  /**
   * Called after every MIGRATE round of a group while its slots are open; an exception here stops
   * the run as a crash would (the slots stay open), which is how tests interrupt a migration.
   */
  onBatch?(info: { sourceId: string; targetId: string; slots: number[]; keysMoved: number }): void | Promise<void>;
}

export interface MigrateProgress {
  slotsTotal: number;
  slotsDone: number;
  keysMoved: number;
}

export interface MigrateResult {
  actions: EngineAction[];
  slotsMoved: number;
  keysMoved: number;
  /** Moves not done (deadline, abort or error), by the current ids of their source and target. */
  remaining: SlotMove[];
  /** Keys the target already had and that were overwritten with the source's copy. */
  replacedKeys: string[];
  errors: string[];
  done: boolean;
}

const DEFAULTS = {
  batchBytes: 4 * 1024 * 1024,
  maxKeysPerBatch: 1000,
  migrateTimeoutMs: 10_000,
  slotsPerGroup: 64,
  groupBytes: 8 * 1024 * 1024,
  replicaWaitMs: 2000,
  failoverWaitMs: 20_000,
  clusterDownWaitMs: 30_000,
  groupedHandover: true,
};

export type Settings = typeof DEFAULTS & Pick<MigrateOptions, 'deadline' | 'signal' | 'onBatch'>;

/** The options with their defaults; refuses batch and group sizes that are not positive integers. */
export function settingsOf(opts: MigrateOptions): Settings {
  const settings: Settings = {
    batchBytes: opts.batchBytes ?? DEFAULTS.batchBytes,
    maxKeysPerBatch: opts.maxKeysPerBatch ?? DEFAULTS.maxKeysPerBatch,
    migrateTimeoutMs: opts.migrateTimeoutMs ?? DEFAULTS.migrateTimeoutMs,
    slotsPerGroup: opts.slotsPerGroup ?? DEFAULTS.slotsPerGroup,
    groupBytes: opts.groupBytes ?? DEFAULTS.groupBytes,
    replicaWaitMs: opts.replicaWaitMs ?? DEFAULTS.replicaWaitMs,
    failoverWaitMs: opts.failoverWaitMs ?? DEFAULTS.failoverWaitMs,
    clusterDownWaitMs: opts.clusterDownWaitMs ?? DEFAULTS.clusterDownWaitMs,
    groupedHandover: opts.groupedHandover ?? DEFAULTS.groupedHandover,
    deadline: opts.deadline,
    signal: opts.signal,
    onBatch: opts.onBatch,
  };
  for (const [k, v] of Object.entries({
    batchBytes: settings.batchBytes,
    maxKeysPerBatch: settings.maxKeysPerBatch,
    slotsPerGroup: settings.slotsPerGroup,
  }))
    if (!Number.isInteger(v) || v < 1) throw new Error(`migrate option ${k} must be a positive integer, got ${v}`);
  return settings;
}

/** Shared state of one executor run. */
export class Run {
  view: ClusterView;
  readonly actions: EngineAction[] = [];
  readonly replacedKeys: string[] = [];
  readonly errors: string[] = [];
  readonly background = new Set<Promise<unknown>>();
  slotsMoved = 0;
  /** Each master's own config epoch, as it last reported it (CLUSTER INFO cluster_my_epoch). */
  readonly epochs = new Map<string, number>();
  /** Two masters shared an epoch at the start: a collision bump could outrank a grouped claim. */
  epochCollision = false;
  keysMoved = 0;

  constructor(
    readonly pool: RedisPool,
    readonly seeds: Endpoint[],
    readonly s: Settings,
    view: ClusterView,
  ) {
    this.view = view;
    const seen = new Set<number>();
    for (const m of liveMasters(view)) {
      const epoch = m.line.configEpoch;
      if (seen.has(epoch)) this.epochCollision = true;
      seen.add(epoch);
      this.epochs.set(m.id, epoch);
    }
  }

  /** Records the epoch a node reported in a CLUSTER INFO reply. */
  noteEpoch(id: string, info: unknown): void {
    const m = /cluster_my_epoch:(\d+)/.exec(info instanceof Error ? '' : String(info));
    if (m) this.epochs.set(id, Math.max(this.epochs.get(id) ?? 0, Number(m[1])));
  }

  stopRequested(): boolean {
    return (this.s.deadline !== undefined && Date.now() >= this.s.deadline) || !!this.s.signal?.aborted;
  }

  async refresh(): Promise<ClusterView> {
    this.view = await readView(this.pool, this.seeds, { discover: true });
    return this.view;
  }
}

/** Estimated cost of a pair's keys, refined as the pair goes. */
export interface PairStats {
  avgKeyBytes?: number;
  groups: number;
  keysPerSlot: number;
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'refused',
  ) {
    super(message);
  }
}

export function throwOn(results: (unknown | Error)[], what: string, tolerate?: (e: Error) => boolean): void {
  for (const r of results)
    if (r instanceof Error && !tolerate?.(r))
      throw new MigrationError(`${what}: ${r.message}`, isConnectionError(r) ? 'unreachable' : 'refused');
}

export type Arg = string | number | Buffer;

export async function pipe(run: Run, ep: Endpoint, cmds: Arg[][], lane: 'control' | 'bulk' = 'control', buffers = false) {
  try {
    return await run.pool.pipeline(ep, cmds, lane, { buffers });
  } catch (err) {
    throw new MigrationError(`${ep.ip}:${ep.port}: ${errorMessage(err)}`, isConnectionError(err) ? 'unreachable' : 'refused');
  }
}
