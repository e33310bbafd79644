// One bounded chunk of a reshard: under the cluster's Lease, roll forward whatever a crash left
// open, plan from live ownership and the spec, move at most one chunk of slots before a deadline,
// record progress in the status, and say whether more is left.
import type { CloudEventV1 } from 'cloudevents';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { clusterCondition, CONDITION_TYPES, type ConditionReason, type EventReason } from '../../shared/api/conditions.js';
import {
  validateSpec,
  type DefaultedSpec,
  type Condition,
  type RedisCluster,
  type ReshardStatus,
} from '../../shared/api/index.js';
import { RESHARD_COMPLETED, RESHARD_PROGRESSED, type ClusterRef } from '../../shared/events/catalog.js';
import { buildEvent, type Cause } from '../../shared/events/codec.js';
import { findCondition, isNotFound, kubeTime, leaseHolder, leaseNameFor, podEndpoints, readPassword, recordEvent, setCondition, tryAcquireLease, type EventRecorder, type HeldLease, type Kube } from '../../shared/kube/index.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { MigrateOptions } from '../../shared/redis/executor/migrate/context.js';
import { resumeOpenSlots } from '../../shared/redis/executor/migrate/open-slots.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { endpointOf, liveMasters, readView, type ClusterView } from '../../shared/redis/view.js';
import { planChunk } from '../../shared/redis/planner/reshard.js';
import { slotsToRanges } from '../../shared/redis/topology.js';
import type { Endpoint, SlotRange } from '../../shared/redis/types.js';
import { planReshard, progressOf, progressText, statusMoves, type Operation, type ReshardIntent } from './plan.js';
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
  | { kind: 'busy'; message: string }
  | { kind: 'retry'; message: string }
  | { kind: 'progressed'; event: CloudEventV1<unknown>; slotsDone: number; slotsTotal: number }
  | { kind: 'completed'; event: CloudEventV1<unknown>; slotsMoved: number; keysMoved: number };

/** Where the nodes listen: the Pods (IP + the ordinal's port), then what the status last saw. */
async function nodeEndpoints(kube: Kube, ref: ClusterRef, cr: RedisCluster, spec: DefaultedSpec): Promise<Endpoint[]> {
  const out = new Map<string, Endpoint>();
  for (const { ip, port } of await podEndpoints(kube, ref.namespace, ref.name, spec.basePort)) out.set(endpointKey({ ip, port }), { ip, port });
  for (const n of cr.status?.nodes ?? []) {
    const ep = { ip: n.ip, port: n.port };
    if (!out.has(endpointKey(ep))) out.set(endpointKey(ep), ep);
  }
  return [...out.values()];
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

function mastersOf(map: ClusterView): Map<string, SlotRange[]> {
  const byId = new Map<string, number[]>(joinedMasters(map).map((m) => [m.id, []]));
  map.owners.forEach((id, slot) => {
    if (id) byId.get(id)?.push(slot);
  });
  return new Map([...byId].map(([id, slots]) => [id, slotsToRanges(slots)]));
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

function operationReason(op: Operation, intent: ReshardIntent): ConditionReason<'Resharding'> {
  if (op === 'Drain') return 'ScaleIn';
  return intent.receivers.length ? 'ScaleOut' : 'Rebalance';
}

function describe(intent: ReshardIntent): string {
  if (intent.operation === 'Drain') return `draining ${intent.victims.join(', ')} over the other masters`;
  if (intent.receivers.length) return `filling new masters ${intent.receivers.join(', ')}`;
  return 'evening out the slots';
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
export async function runReshardChunk(ref: ClusterRef, cause: Cause & { step?: number }, deps: ReshardDeps): Promise<ChunkResult> {
  const { kube, log, settings } = deps;
  const atRequest = specOf(ref, await kube.getCluster<RedisCluster>(ref));
  if ('kind' in atRequest) return atRequest;

  // Reconcile holds the Lease while it places new Pods (a scale-out asks for the reshard as they
  // start): waiting for it costs far less than a busy answer and the Trigger's exponential back-off.
  const leaseBy = Date.now() + settings.leaseWaitMs;
  let lease: HeldLease | undefined;
  for (;;) {
    lease = await tryAcquireLease(kube, ref, { holder: deps.holder, durationSeconds: settings.leaseSeconds });
    if (lease || Date.now() >= leaseBy || deps.signal?.aborted) break;
    await sleep(200);
  }
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
  const { cr: cr0, spec } = current;
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
  const password = await readPassword(kube, ref.namespace, spec.passwordSecret);
  const pool = new RedisPool({ ...(password ? { password } : {}), connectTimeoutMs: 1000, commandTimeoutMs: 5000, logger: log });
  const started = Date.now();
  const deadline = started + settings.chunkMs;

  // Status writes go one after another, each against the freshest conditions.
  let writes: Promise<void> = Promise.resolve();
  const writeStatus = (reshard: ReshardStatus | Partial<ReshardStatus> | undefined, condition?: Omit<Condition, 'lastTransitionTime'>, phase?: string) => {
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
  };
  const record = (reason: EventReason, message: string) => recordEvent(deps.recorder, cr0 as unknown as KubernetesObject, reason, message, log);
  const generation = cr0.metadata.generation ?? 0;
  const prev = cr0.status?.reshard;

  try {
    const endpoints = await nodeEndpoints(kube, ref, cr0, spec);
    if (endpoints.length === 0) return { kind: 'retry', message: 'no node of the cluster has an address yet' };

    // 1. Whatever a crash (of this function or of a node) left open is rolled forward first, and the
    //    cluster must have a reachable master for every slot before anything is planned.
    let resumedKeys = 0;
    let map: ClusterView;
    const settleBy = Date.now() + settings.settleMs;
    for (;;) {
      const resumed = await resumeOpenSlots(pool, endpoints, { ...(deps.migrate ?? {}), onBatch: undefined });
      resumedKeys += resumed.keysMoved;
      for (const a of resumed.actions) log.info({ action: a.kind }, a.message);
      map = await readView(pool, endpoints, { discover: true });
      const why = resumed.problems.length ? resumed.problems.map((p) => p.message).join('; ') : unsettled(map);
      if (!why) break;
      if (Date.now() >= settleBy || stop.signal.aborted) {
        // Only a reshard under way says so; a new one must not claim Running before it moved
        // anything, or reconcile would stop healing the very problem it waits for.
        if (prev?.state === 'Running') await writeStatus({ message: `waiting: ${why}` });
        return { kind: 'retry', message: `the cluster is not settled: ${why}` };
      }
      log.info({ why }, 'waiting for the cluster to settle before planning');
      await sleep(500);
    }

    // 2. The plan from live ownership and the spec.
    const intent = planReshard(mastersOf(map), spec.masters, await keyCounts(pool, map));
    const progress = progressOf(prev, intent.slots, new Date());
    const keysBefore = progress.keysMoved + resumedKeys;
    if (intent.slots === 0) return await complete(progress.slotsTotal, keysBefore, progress.startedAt, intent);

    const chunk = planChunk(intent.plan, settings.chunkSlots);
    const reason = operationReason(intent.operation, intent);
    const what = describe(intent);
    if (prev?.state !== 'Running') await record('ReshardStarted', `${what}: ${intent.slots} slots to move (masters -> ${spec.masters})`);
    const step = cause.step ?? 1;
    await writeStatus(
      {
        state: 'Running',
        operation: intent.operation,
        slotsTotal: progress.slotsTotal,
        slotsDone: progress.slotsDone,
        keysMoved: keysBefore,
        currentMoves: statusMoves(chunk.moves),
        startedAt: progress.startedAt,
        message: `${what}; chunk ${step}: ${chunk.moves.length} moves`,
      },
      clusterCondition(CONDITION_TYPES.Resharding, reason, `${what}: ${progress.slotsDone}/${progress.slotsTotal} slots`, generation),
      'Resharding',
    );

    // 3. The chunk, bounded by the deadline; progress goes to the status as it happens.
    let lastWrite = Date.now();
    const result = await migrateSlots(pool, chunk.waves, {
      ...(deps.migrate ?? {}),
      endpoints: map.reports.map((r) => r.address),
      deadline,
      signal: stop.signal,
      onProgress: (p) => {
        if (Date.now() - lastWrite < settings.progressEveryMs) return;
        lastWrite = Date.now();
        void writeStatus({ slotsDone: progress.slotsDone + p.slotsDone, slotsTotal: progress.slotsTotal, keysMoved: keysBefore + p.keysMoved });
      },
    });
    const keysMoved = keysBefore + result.keysMoved;
    log.info({ slotsMoved: result.slotsMoved, keysMoved: result.keysMoved, remaining: result.remaining.length, errors: result.errors }, 'chunk finished');

    // 4. What is left, from live ownership again.
    map = await readView(pool, endpoints, { discover: true });
    const after = unsettled(map) ? undefined : planReshard(mastersOf(map), spec.masters, await keyCounts(pool, map));
    if (after && after.slots === 0) return await complete(progress.slotsTotal, keysMoved, progress.startedAt, intent);
    const remaining = after?.slots ?? Math.max(0, intent.slots - result.slotsMoved);
    const total = Math.max(progress.slotsTotal, progress.slotsDone + result.slotsMoved + remaining);
    const done = Math.max(0, total - remaining);
    const errors = result.errors.length ? `; errors: ${result.errors.join('; ').slice(0, 2000)}` : '';
    await writeStatus(
      {
        state: 'Running',
        slotsTotal: total,
        slotsDone: done,
        keysMoved,
        currentMoves: after ? statusMoves(planChunk(after.plan, settings.chunkSlots).moves) : [],
        message: `${what}; chunk ${step} moved ${result.slotsMoved} slots${errors}`,
      },
      clusterCondition(CONDITION_TYPES.Resharding, reason, `${what}: ${done}/${total} slots`, generation),
    );
    if (result.slotsMoved === 0 && result.errors.length) {
      await record('ReshardStalled', `chunk ${step} moved nothing: ${result.errors.join('; ').slice(0, 1000)}`);
      return { kind: 'retry', message: `no slot moved: ${result.errors.join('; ')}` };
    }
    const event = buildEvent(
      RESHARD_PROGRESSED,
      { cluster: ref, generation, mode: intent.operation === 'Drain' ? 'scale-in' : intent.receivers.length ? 'scale-out' : 'rebalance', step, slotsMoved: done, slotsTotal: total, keysMoved },
      { source: deps.source, cause },
    ) as CloudEventV1<unknown>;
    return { kind: 'progressed', event, slotsDone: done, slotsTotal: total };
  } finally {
    await writes.catch(() => undefined);
    await lease.release();
    await pool.close();
  }

  async function complete(total: number, keysMoved: number, startedAt: string, intent: ReshardIntent): Promise<ChunkResult> {
    const durationMs = Math.max(0, Date.now() - Date.parse(startedAt));
    const message = total === 0 ? 'nothing to move: the slots are where the spec wants them' : `${total} slots and ${keysMoved} keys moved in ${Math.round(durationMs / 1000)} s`;
    // A late or repeated request after a finished reshard keeps that reshard's record.
    const keepRecord = total === 0 && prev !== undefined && prev.state !== 'Running';
    // Reconcile's claim that a reshard was asked for is answered either way: nothing left to wait for.
    const claimed = findCondition(cr0?.status?.conditions, CONDITION_TYPES.Resharding)?.reason === ('Requested' satisfies ConditionReason<'Resharding'>);
    const completed = clusterCondition(CONDITION_TYPES.Resharding, 'ReshardCompleted', message, generation);
    if (keepRecord && claimed) await writeStatus(undefined, completed);
    if (!keepRecord) await writeStatus(
      { state: 'Completed', ...(prev?.operation || intent.operation ? { operation: prev?.state === 'Running' && prev.operation ? prev.operation : intent.operation } : {}), slotsTotal: total, slotsDone: total, keysMoved, currentMoves: [], startedAt, message },
      completed,
    );
    if (prev?.state === 'Running' || total > 0) await record('ReshardCompleted', message);
    const event = buildEvent(
      RESHARD_COMPLETED,
      { cluster: ref, generation, outcome: 'succeeded', slotsMoved: total, keysMoved, durationMs, message },
      { source: deps.source, cause },
    ) as CloudEventV1<unknown>;
    return { kind: 'completed', event, slotsMoved: total, keysMoved };
  }
}

/** The RESHARD column's text for a write that carries both counts. */
function shownProgress(reshard: Partial<ReshardStatus>): { progress?: string } {
  return reshard.slotsDone !== undefined && reshard.slotsTotal !== undefined ? { progress: progressText(reshard.slotsDone, reshard.slotsTotal, reshard.state) } : {};
}
