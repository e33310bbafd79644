// One bounded chunk of a reshard: under the cluster's Lease, roll forward whatever a crash left
// open, plan from live ownership and the spec, move at most one chunk of slots before a deadline,
// record progress in the status, and say whether more is left.
import type { CloudEventV1 } from 'cloudevents';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { clusterCondition, CONDITION_TYPES, type ConditionReason, type EventReason } from '../../shared/api/conditions.js';
import { validateSpec, type DefaultedSpec, type Condition, type RedisCluster, type ReshardStatus } from '../../shared/api/index.js';
import { RESHARD_COMPLETED, RESHARD_PROGRESSED, type ClusterRef } from '../../shared/events/catalog.js';
import { buildEvent, type Cause } from '../../shared/events/codec.js';
import {
  findCondition,
  isNotFound,
  kubeTime,
  leaseHolder,
  leaseNameFor,
  podEndpoints,
  recordEvent,
  setCondition,
  tryAcquireLease,
  type EventRecorder,
  type HeldLease,
  type Kube,
} from '../../shared/kube/index.js';
import { clientTls, readTlsSecret } from '../../shared/tls/secret.js';
import { readOperatorLogin } from '../../shared/kube/users-secret.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { MigrateOptions, MigrateResult } from '../../shared/redis/executor/migrate/context.js';
import { resumeOpenSlots } from '../../shared/redis/executor/migrate/open-slots.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { endpointOf, liveMasters, readView, type ClusterView } from '../../shared/redis/view.js';
import { planChunk } from '../../shared/redis/planner/reshard.js';
import type { Endpoint, ReshardPlan } from '../../shared/redis/types.js';
import {
  describeIntent,
  keepsRecord,
  slotsByMaster,
  operationReason,
  planReshard,
  progressAfter,
  progressOf,
  reshardMode,
  shownProgress,
  statusMoves,
  unsettled,
  type Progress,
  type ReshardIntent,
} from './plan.js';
import { errorMessage } from '../../shared/errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReshardSettings {
  /** Time one request spends moving slots; well inside the Knative timeout (300 s). */
  chunkMs: number;
  /** Most slots one request moves. */
  chunkSlots: number;
  leaseSeconds: number;
  /** How long to wait for every slot to have a reachable master (a failover under way) before handing back. */
  settleMs: number;
  /** Least time between two progress writes while a chunk runs. */
  progressEveryMs: number;
  /** How long a request waits for a Lease another writer holds before it answers busy. */
  leaseWaitMs: number;
}

export const DEFAULT_SETTINGS: ReshardSettings = {
  chunkMs: 60_000,
  chunkSlots: 16384,
  leaseSeconds: 20,
  settleMs: 30_000,
  progressEveryMs: 2000,
  leaseWaitMs: 10_000,
};

export interface ReshardDeps {
  kube: Kube;
  recorder: EventRecorder;
  log: Logger;
  holder: string;
  source: string;
  settings: ReshardSettings;
  /** Stops the chunk early (between slot groups) and answers with its progress: SIGTERM. */
  signal?: AbortSignal;
  /** Extra executor options (tests interrupt a migration through onBatch). */
  migrate?: Partial<MigrateOptions>;
}

export type ChunkResult =
  | { kind: 'gone'; message: string }
  /** spec.paused: no chunk; reconcile asks again once the cluster is unpaused. */
  | { kind: 'paused'; message: string }
  | { kind: 'busy'; message: string }
  | { kind: 'retry'; message: string }
  | { kind: 'progressed'; event: CloudEventV1<unknown>; slotsDone: number; slotsTotal: number }
  | { kind: 'completed'; event: CloudEventV1<unknown>; slotsMoved: number; keysMoved: number };

/** Where the nodes listen: the Pods (IP + the ordinal's port), then what the status last saw. */
async function nodeEndpoints(kube: Kube, ref: ClusterRef, cr: RedisCluster, spec: DefaultedSpec): Promise<Endpoint[]> {
  const out = new Map<string, Endpoint>();
  for (const { ip, port } of await podEndpoints(kube, ref.namespace, ref.name, spec.basePort))
    out.set(endpointKey({ ip, port }), { ip, port });
  for (const n of cr.status?.nodes ?? []) {
    const ep = { ip: n.ip, port: n.port };
    if (!out.has(endpointKey(ep))) out.set(endpointKey(ep), ep);
  }
  return [...out.values()];
}

async function keyCounts(pool: RedisPool, map: ClusterView): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(
    liveMasters(map).map(async (m) => {
      out.set(m.id, Number(await pool.call(endpointOf(m), 'DBSIZE')));
    }),
  );
  return out;
}

/** The cluster's spec, or why there is nothing to do for it. */
function specOf(ref: ClusterRef, cr: RedisCluster | undefined): { cr: RedisCluster; spec: DefaultedSpec } | ChunkResult {
  if (!cr) return { kind: 'gone', message: `RedisCluster ${ref.namespace}/${ref.name} not found` };
  if (cr.metadata.deletionTimestamp) return { kind: 'gone', message: 'the cluster is being deleted' };
  const validated = validateSpec(cr.spec);
  if (!validated.ok) return { kind: 'gone', message: `invalid spec: ${validated.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}` };
  return { cr, spec: validated.spec };
}

/** Runs one chunk for the cluster; `cause` is the event that asked (its id makes the reply's id). */
export async function runReshardChunk(ref: ClusterRef, cause: ChunkCause, deps: ReshardDeps): Promise<ChunkResult> {
  const { kube } = deps;
  const atRequest = specOf(ref, await kube.getCluster<RedisCluster>(ref));
  if ('kind' in atRequest) return atRequest;
  const lease = await waitForLease(ref, deps);
  if (!lease) {
    const holder = await leaseHolder(kube, ref).catch(() => undefined);
    return { kind: 'busy', message: `Lease ${leaseNameFor(ref.name)} is held by ${holder ?? 'another writer'}` };
  }
  // Read under the Lease: the spec, the claim and the progress as the last holder left them.
  const current = specOf(ref, await kube.getCluster<RedisCluster>(ref));
  if ('kind' in current) {
    await lease.release();
    return current;
  }
  if (current.spec.paused) {
    await pauseReshard(kube, ref, current.cr, deps.log).finally(() => lease.release());
    return { kind: 'paused', message: 'spec.paused is true: the reshard stops here and resumes once it is false' };
  }
  const run = await openChunk(ref, cause, deps, lease, current);
  try {
    return await runChunk(run);
  } finally {
    await run.status.flushed().catch(() => undefined);
    await lease.release();
    await run.pool.close();
  }
}

type ChunkCause = Cause & { step?: number };

/** A reshard under way is marked Paused (progress kept), so reconcile knows to ask for it again. */
async function pauseReshard(kube: Kube, ref: ClusterRef, cr: RedisCluster, log: Logger): Promise<void> {
  const prev = cr.status?.reshard;
  if (prev?.state !== 'Running' && prev?.state !== 'Planned') return;
  const reshard = { ...prev, state: 'Paused' as const, currentMoves: [], message: 'paused by spec.paused', updatedAt: kubeTime() };
  await kube.patchClusterStatus(ref, { reshard: { ...reshard, ...shownProgress(reshard) } }).catch((err: unknown) => {
    if (!isNotFound(err)) log.warn({ err: errorMessage(err) }, 'marking the reshard paused failed');
  });
}

/**
 * Reconcile holds the Lease while it places new Pods (a scale-out asks for the reshard as they
 * start): waiting for it costs far less than a busy answer and the Trigger's exponential back-off.
 */
async function waitForLease(ref: ClusterRef, deps: ReshardDeps): Promise<HeldLease | undefined> {
  const { kube, settings } = deps;
  const leaseBy = Date.now() + settings.leaseWaitMs;
  for (;;) {
    const lease = await tryAcquireLease(kube, ref, { holder: deps.holder, durationSeconds: settings.leaseSeconds });
    if (lease || Date.now() >= leaseBy || deps.signal?.aborted) return lease;
    await sleep(200);
  }
}

/** One chunk under the Lease: what it works on, and its means of reporting. */
interface ChunkRun {
  ref: ClusterRef;
  cause: ChunkCause;
  deps: ReshardDeps;
  cr: RedisCluster;
  spec: DefaultedSpec;
  generation: number;
  /** The reshard status as the last chunk left it. */
  prev: ReshardStatus | undefined;
  pool: RedisPool;
  /** Aborted on shutdown or when the Lease is lost. */
  stop: AbortSignal;
  deadline: number;
  status: StatusWriter;
  record(reason: EventReason, message: string): Promise<void>;
}

async function openChunk(
  ref: ClusterRef,
  cause: ChunkCause,
  deps: ReshardDeps,
  lease: HeldLease,
  { cr, spec }: { cr: RedisCluster; spec: DefaultedSpec },
): Promise<ChunkRun> {
  const { kube, log, settings } = deps;
  // Losing the Lease (another writer took it after a stall) ends the chunk at the next slot group.
  const stop = new AbortController();
  if (deps.signal) {
    if (deps.signal.aborted) stop.abort();
    else deps.signal.addEventListener('abort', () => stop.abort(), { once: true });
  }
  lease.keepRenewed((err) => {
    log.warn({ err: errorMessage(err) }, 'Lease lost: stopping the chunk');
    stop.abort();
  });
  const login = await readOperatorLogin(kube, ref.namespace, ref.name, spec.passwordSecret);
  const tls = spec.tls ? await readTlsSecret(kube, ref.namespace, spec.tls.secretName) : undefined;
  const ca = tls?.['ca.crt'];
  if (spec.tls && !ca) throw new Error(`TLS Secret ${spec.tls.secretName} (spec.tls.secretName) not found or has no ca.crt`);
  const pool = new RedisPool({
    ...login,
    ...(ca ? { tls: clientTls(ca) } : {}),
    connectTimeoutMs: 1000,
    commandTimeoutMs: 5000,
    logger: log,
  });
  return {
    ref,
    cause,
    deps,
    cr,
    spec,
    generation: cr.metadata.generation ?? 0,
    prev: cr.status?.reshard,
    pool,
    stop: stop.signal,
    deadline: Date.now() + settings.chunkMs,
    status: statusWriter(kube, ref, log),
    record: (reason, message) => recordEvent(deps.recorder, cr as unknown as KubernetesObject, reason, message, log),
  };
}

interface StatusWriter {
  write(
    reshard: ReshardStatus | Partial<ReshardStatus> | undefined,
    condition?: Omit<Condition, 'lastTransitionTime'>,
    phase?: string,
  ): Promise<void>;
  /** Settles when every write asked for so far has. */
  flushed(): Promise<void>;
}

/** Status writes go one after another, each against the freshest conditions. */
function statusWriter(kube: Kube, ref: ClusterRef, log: Logger): StatusWriter {
  let writes: Promise<void> = Promise.resolve();
  return {
    write(reshard, condition, phase) {
      writes = writes.then(async () => {
        const body: Record<string, unknown> = {};
        if (reshard) body['reshard'] = { ...reshard, ...shownProgress(reshard), updatedAt: kubeTime() };
        if (condition) {
          const fresh = await kube.getCluster<RedisCluster>(ref);
          body['conditions'] = setCondition(fresh?.status?.conditions, condition);
        }
        if (phase) body['phase'] = phase;
        await kube.patchClusterStatus(ref, body).catch((err: unknown) => {
          if (!isNotFound(err)) log.warn({ err: errorMessage(err) }, 'writing reshard progress failed');
        });
      });
      return writes;
    },
    flushed: () => writes,
  };
}

/** Settle the cluster, decide the chunk, move it, report what is left. */
async function runChunk(run: ChunkRun): Promise<ChunkResult> {
  const endpoints = await nodeEndpoints(run.deps.kube, run.ref, run.cr, run.spec);
  if (endpoints.length === 0) return { kind: 'retry', message: 'no node of the cluster has an address yet' };
  const settled = await settle(run, endpoints);
  if ('kind' in settled) return settled;
  const chunk = await decideChunk(run, settled.map, settled.resumedKeys);
  if ('kind' in chunk) return chunk;
  await announceChunk(run, chunk);
  const moved = await moveChunk(run, settled.map, chunk);
  return reportChunk(run, endpoints, chunk, moved);
}

/**
 * Whatever a crash (of this function or of a node) left open is rolled forward first, and the
 * cluster must have a reachable master for every slot before anything is planned.
 */
async function settle(run: ChunkRun, endpoints: Endpoint[]): Promise<{ map: ClusterView; resumedKeys: number } | ChunkResult> {
  const { deps, pool } = run;
  let resumedKeys = 0;
  const settleBy = Date.now() + deps.settings.settleMs;
  for (;;) {
    const resumed = await resumeOpenSlots(pool, endpoints, { ...(deps.migrate ?? {}), onBatch: undefined });
    resumedKeys += resumed.keysMoved;
    for (const a of resumed.actions) deps.log.info({ action: a.kind }, a.message);
    const map = await readView(pool, endpoints, { discover: true });
    const why = resumed.problems.length ? resumed.problems.map((p) => p.message).join('; ') : unsettled(map);
    if (!why) return { map, resumedKeys };
    if (Date.now() >= settleBy || run.stop.aborted) {
      // Only a reshard under way says so; a new one must not claim Running before it moved
      // anything, or reconcile would stop healing the very problem it waits for.
      if (run.prev?.state === 'Running') await run.status.write({ message: `waiting: ${why}` });
      return { kind: 'retry', message: `the cluster is not settled: ${why}` };
    }
    deps.log.info({ why }, 'waiting for the cluster to settle before planning');
    await sleep(500);
  }
}

/** The chunk this request moves, planned from live ownership and the spec. */
interface DecidedChunk {
  intent: ReshardIntent;
  progress: Progress;
  /** Keys moved by the reshard so far, open slots just rolled forward included. */
  keysBefore: number;
  plan: ReshardPlan;
  what: string;
  step: number;
}

/** The chunk to move; completes the reshard when nothing is left. */
async function decideChunk(run: ChunkRun, map: ClusterView, resumedKeys: number): Promise<DecidedChunk | ChunkResult> {
  const intent = planReshard(slotsByMaster(map), run.spec.masters, await keyCounts(run.pool, map));
  const progress = progressOf(run.prev, intent.slots, new Date());
  const keysBefore = progress.keysMoved + resumedKeys;
  if (intent.slots === 0) return await complete(run, progress.slotsTotal, keysBefore, progress.startedAt, intent);
  const plan = planChunk(intent.plan, run.deps.settings.chunkSlots);
  return { intent, progress, keysBefore, plan, what: describeIntent(intent), step: run.cause.step ?? 1 };
}

async function announceChunk(run: ChunkRun, chunk: DecidedChunk): Promise<void> {
  const { intent, progress, what, step } = chunk;
  if (run.prev?.state !== 'Running')
    await run.record('ReshardStarted', `${what}: ${intent.slots} slots to move (masters -> ${run.spec.masters})`);
  await run.status.write(
    {
      state: 'Running',
      operation: intent.operation,
      slotsTotal: progress.slotsTotal,
      slotsDone: progress.slotsDone,
      keysMoved: chunk.keysBefore,
      currentMoves: statusMoves(chunk.plan.moves),
      startedAt: progress.startedAt,
      message: `${what}; chunk ${step}: ${chunk.plan.moves.length} moves`,
    },
    clusterCondition(
      CONDITION_TYPES.Resharding,
      operationReason(intent),
      `${what}: ${progress.slotsDone}/${progress.slotsTotal} slots`,
      run.generation,
    ),
    'Resharding',
  );
}

/** The chunk, bounded by the deadline; progress goes to the status as it happens. */
async function moveChunk(run: ChunkRun, map: ClusterView, chunk: DecidedChunk): Promise<MigrateResult> {
  const { deps } = run;
  const { progress, keysBefore } = chunk;
  let lastWrite = Date.now();
  const result = await migrateSlots(run.pool, chunk.plan.waves, {
    ...(deps.migrate ?? {}),
    endpoints: map.reports.map((r) => r.address),
    deadline: run.deadline,
    signal: run.stop,
    onProgress: (p) => {
      if (Date.now() - lastWrite < deps.settings.progressEveryMs) return;
      lastWrite = Date.now();
      void run.status.write({
        slotsDone: progress.slotsDone + p.slotsDone,
        slotsTotal: progress.slotsTotal,
        keysMoved: keysBefore + p.keysMoved,
      });
    },
  });
  deps.log.info(
    { slotsMoved: result.slotsMoved, keysMoved: result.keysMoved, remaining: result.remaining.length, errors: result.errors },
    'chunk finished',
  );
  return result;
}

/** What is left, from live ownership again: the reshard completes, stalls or goes on. */
async function reportChunk(run: ChunkRun, endpoints: Endpoint[], chunk: DecidedChunk, result: MigrateResult): Promise<ChunkResult> {
  const { pool, spec, ref, generation } = run;
  const { intent, progress, what, step } = chunk;
  const keysMoved = chunk.keysBefore + result.keysMoved;
  const map = await readView(pool, endpoints, { discover: true });
  const after = unsettled(map) ? undefined : planReshard(slotsByMaster(map), spec.masters, await keyCounts(pool, map));
  if (after && after.slots === 0) return await complete(run, progress.slotsTotal, keysMoved, progress.startedAt, intent);
  const { slotsTotal: total, slotsDone: done } = progressAfter(progress, intent.slots, result.slotsMoved, after?.slots);
  const errors = result.errors.length ? `; errors: ${result.errors.join('; ').slice(0, 2000)}` : '';
  await run.status.write(
    {
      state: 'Running',
      slotsTotal: total,
      slotsDone: done,
      keysMoved,
      currentMoves: after ? statusMoves(planChunk(after.plan, run.deps.settings.chunkSlots).moves) : [],
      message: `${what}; chunk ${step} moved ${result.slotsMoved} slots${errors}`,
    },
    clusterCondition(CONDITION_TYPES.Resharding, operationReason(intent), `${what}: ${done}/${total} slots`, generation),
  );
  if (result.slotsMoved === 0 && result.errors.length) {
    await run.record('ReshardStalled', `chunk ${step} moved nothing: ${result.errors.join('; ').slice(0, 1000)}`);
    return { kind: 'retry', message: `no slot moved: ${result.errors.join('; ')}` };
  }
  const event = buildEvent(
    RESHARD_PROGRESSED,
    { cluster: ref, generation, mode: reshardMode(intent), step, slotsMoved: done, slotsTotal: total, keysMoved },
    { source: run.deps.source, cause: run.cause },
  ) as CloudEventV1<unknown>;
  return { kind: 'progressed', event, slotsDone: done, slotsTotal: total };
}

async function complete(run: ChunkRun, total: number, keysMoved: number, startedAt: string, intent: ReshardIntent): Promise<ChunkResult> {
  const { prev, generation } = run;
  const durationMs = Math.max(0, Date.now() - Date.parse(startedAt));
  const message =
    total === 0
      ? 'nothing to move: the slots are where the spec wants them'
      : `${total} slots and ${keysMoved} keys moved in ${Math.round(durationMs / 1000)} s`;
  const keepRecord = keepsRecord(prev, total);
  // Reconcile's claim that a reshard was asked for is answered either way: nothing left to wait for.
  const claimed =
    findCondition(run.cr.status?.conditions, CONDITION_TYPES.Resharding)?.reason === ('Requested' satisfies ConditionReason<'Resharding'>);
  const completed = clusterCondition(CONDITION_TYPES.Resharding, 'ReshardCompleted', message, generation);
  if (keepRecord && claimed) await run.status.write(undefined, completed);
  if (!keepRecord)
    await run.status.write(
      {
        state: 'Completed',
        ...(prev?.operation || intent.operation
          ? { operation: prev?.state === 'Running' && prev.operation ? prev.operation : intent.operation }
          : {}),
        slotsTotal: total,
        slotsDone: total,
        keysMoved,
        currentMoves: [],
        startedAt,
        message,
      },
      completed,
    );
  if (prev?.state === 'Running' || total > 0) await run.record('ReshardCompleted', message);
  const event = buildEvent(
    RESHARD_COMPLETED,
    { cluster: run.ref, generation, outcome: 'succeeded', slotsMoved: total, keysMoved, durationMs, message },
    { source: run.deps.source, cause: run.cause },
  ) as CloudEventV1<unknown>;
  return { kind: 'completed', event, slotsMoved: total, keysMoved };
}
