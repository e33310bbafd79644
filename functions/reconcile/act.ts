// Doing the step decide.ts chose: one function per step, I/O only. What the engine did goes into
// the round's actions and problems, which the status and the Events report.
import type { CloudEventV1 } from 'cloudevents';
import type { Logger } from 'pino';
import type { DefaultedSpec } from '../../shared/api/index.js';
import { ANNOTATION_SURGE_FORGONE } from '../../shared/api/labels.js';
import { RESHARD_REQUESTED } from '../../shared/events/catalog.js';
import { buildEvent } from '../../shared/events/codec.js';
import {
  isConflict,
  leaseNameFor,
  LeaseLostError,
  isTooManyRequests,
  ordinalOf,
  tryAcquireLease,
  type HeldLease,
  type Kube,
  type ObjectRef,
} from '../../shared/kube/index.js';
import type { RedisPool } from '../../shared/redis/connection.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { failover } from '../../shared/redis/executor/failover.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { placeShards } from '../../shared/redis/executor/place.js';
import { movePrimary as promote } from '../../shared/redis/executor/primaries.js';
import { removeNode, removeReplica } from '../../shared/redis/executor/remove.js';
import type { ClusterProblem, EngineAction, Endpoint } from '../../shared/redis/types.js';
import { growClaims } from './claims.js';
import { reloadCertificates, sweepTlsBus } from './reload.js';
import { syncAcl, type AclCondition } from './acl.js';
import { rotatePasswordFully } from '../../shared/redis/executor/password.js';
import type { ActionStep, NodeToRemove, ReshardMode, Step } from './decide.js';
import type { EndpointProtocols } from '../../shared/tls/layout.js';
import { buildClaim, buildConfigMap, buildPod, claimName, configDrift, liveSettings, type ClusterIdentity } from './resources.js';
import { errorMessage } from '../../shared/errors.js';
import type { EventReason } from '../../shared/api/conditions.js';

/** How long a shard's placement waits for a Pod that has an address but does not answer yet. */
const NEW_POD_ANSWER_MS = 3000;
/** How long a primary move waits for the roles to swap on every node, and then for the cluster to settle. */
const PRIMARY_MOVE_MS = 5000;

export interface ActContext {
  kube: Kube;
  pool: RedisPool;
  log: Logger;
  ref: ObjectRef;
  identity: ClusterIdentity;
  spec: DefaultedSpec;
  generation: number;
  /** Lease holder identity of this process. */
  holder: string;
  /** CloudEvent source of the events this function builds. */
  source: string;
  leaseDurationSeconds: number;
  emit?: (event: CloudEventV1<unknown>) => Promise<void>;
  record: (reason: EventReason, message: string) => Promise<void>;
  /** The checked TLS Secret's hash, recorded on each new Pod. */
  tlsHash?: string;
  /** Which nodes speak TLS on their port: observe keeps it current for the pool. */
  protocols: EndpointProtocols;
  /** spec.passwordSecret's password, for its rotation. */
  password?: string;
}

/** What a pass holds across its rounds. */
export interface PassState {
  lease?: HeldLease;
  /** Set once the Lease is lost: another writer may own the cluster, so no further mutation. */
  leaseLost?: unknown;
  /** The reshard this pass asked for; `sent` when it went to the Broker instead of the reply. */
  reshard?: { event: CloudEventV1<unknown>; sent: boolean };
}

/** What one round did to the cluster. */
export interface RoundWork {
  actions: EngineAction[];
  problems: ClusterProblem[];
  /** An empty cluster was formed in place of one whose every node lost its data: what was lost. */
  lost?: string;
  /** What apply-acl could and could not apply. */
  acl?: AclCondition;
}

function stillHeld(ctx: ActContext, pass: PassState): void {
  if (pass.leaseLost) throw pass.leaseLost instanceof Error ? pass.leaseLost : new LeaseLostError(leaseNameFor(ctx.ref.name), undefined);
}

/** Creates a node's claim unless it exists: a kept claim keeps its data, and its size is grow-claims' to change. */
async function ensureClaim(ctx: ActContext, ordinal: number, shard: number): Promise<void> {
  try {
    await ctx.kube.core.createNamespacedPersistentVolumeClaim({
      namespace: ctx.ref.namespace,
      body: buildClaim(ctx.identity, ctx.spec, ordinal, shard),
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

export async function createPods(ctx: ActContext, step: Extract<Step, { kind: 'create-pods' }>): Promise<void> {
  // While TLS is turned on or off the shared redis.conf follows the Pods: a new Pod starts with
  // what the Pods are now, not what they were when the pass began.
  await ctx.kube.apply(buildConfigMap(ctx.identity, ctx.spec, step.conf));
  for (const c of step.pods) {
    if (ctx.spec.persistence.enabled) await ensureClaim(ctx, c.ordinal, c.shard);
    try {
      await ctx.kube.core.createNamespacedPod({
        namespace: ctx.ref.namespace,
        body: buildPod(ctx.identity, ctx.spec, c.ordinal, c.shard, ctx.tlsHash, step.tls),
      });
      ctx.log.info({ pod: `${ctx.ref.name}-${c.ordinal}`, shard: c.shard }, 'Pod created');
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

/** The Lease before any change to Redis; false when another holder has it. */
export async function takeLease(ctx: ActContext, pass: PassState): Promise<boolean> {
  const lease = await tryAcquireLease(ctx.kube, ctx.ref, { holder: ctx.holder, durationSeconds: ctx.leaseDurationSeconds });
  if (!lease) return false;
  pass.lease = lease;
  lease.keepRenewed((err) => {
    pass.leaseLost = err;
    ctx.log.warn({ err: errorMessage(err) }, 'Lease lost: no further Redis mutation in this pass');
  });
  return true;
}

export async function form(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'form' }>, work: RoundWork): Promise<void> {
  stillHeld(ctx, pass);
  if (step.lost) {
    work.lost = step.lost;
    await ctx.record('AllNodesLost', step.lost);
  }
  const result = await ensureCreated(ctx.pool, step.nodes, step.plan);
  work.problems.push(...result.problems);
  if (result.actions.some((a) => a.kind === 'add-slots')) {
    await ctx.record(
      'ClusterCreated',
      `formed ${step.masters} masters with ${step.replicas} replicas each: ${step.plan.masters.map((m) => m.node).join(', ')} own the slots`,
    );
  }
}

export async function healCluster(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'heal' }>, work: RoundWork): Promise<void> {
  stillHeld(ctx, pass);
  // No settling inside heal: the next round, a moment later, looks at the cluster again.
  const result = await heal(ctx.pool, step.nodes, {
    masters: ctx.spec.masters,
    allowDataLoss: ctx.spec.allowDataLoss,
    stepTimeoutMs: 20_000,
    settleMs: 0,
    leaving: step.leaving,
  });
  work.actions.push(...result.actions);
  // A lost shard waits for a person: the status says so, and the Warning says what to do. Slots
  // whose master is only down (not yet flagged fail) are in the status, not yet in a Warning.
  const uncovered = result.problems.filter((p) => p.code === 'slots-uncovered');
  work.problems.push(...uncovered);
  for (const p of uncovered.filter((x) => x.dataLost)) await ctx.record('SlotsLost', p.message);
}

/** CONFIG SET on every node whose running settings differ from the spec; a refusal is only logged. */
export async function applySettings(ctx: ActContext, step: Extract<Step, { kind: 'apply-settings' }>): Promise<void> {
  const wanted = liveSettings(ctx.spec);
  await Promise.all(
    step.endpoints.map(async (ep) => {
      try {
        const reply = (await ctx.pool.call(ep, 'CONFIG', 'GET', ...Object.keys(wanted))) as string[];
        const current: Record<string, string> = {};
        for (let i = 0; i + 1 < reply.length; i += 2) current[reply[i]!.toLowerCase()] = reply[i + 1]!;
        for (const [key, value] of configDrift(wanted, current)) {
          await ctx.pool.call(ep, 'CONFIG', 'SET', key, value);
          ctx.log.info({ node: endpointKey(ep), key, value }, 'setting applied to a running node');
        }
      } catch (err) {
        ctx.log.warn(
          { node: endpointKey(ep), err: errorMessage(err) },
          'a setting could not be applied live; it applies when the node restarts',
        );
      }
    }),
  );
}

export async function place(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'place' }>, work: RoundWork): Promise<void> {
  stillHeld(ctx, pass);
  for (const shard of step.waiting) ctx.log.info({ shard }, 'shard has no master yet (failover under way); its new Pods wait');
  if (!step.seed || step.shards.length === 0) return;
  const result = await placeShards(ctx.pool, step.shards, { seed: step.seed, answerWaitMs: NEW_POD_ANSWER_MS });
  work.actions.push(...result.actions);
  for (const f of result.failures) {
    if (f.node) ctx.log.warn({ shard: f.shard, err: f.error }, 'attaching a replica failed');
    else ctx.log.warn({ err: f.error }, 'joining a new shard failed');
  }
}

/** Deletes a node's Pod and, with persistence, its claim: the node is out of the cluster for good. */
async function deletePod(ctx: ActContext, name: string): Promise<void> {
  await ctx.kube.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ctx.ref.namespace } });
  const ordinal = ordinalOf(ctx.ref.name, name);
  if (ctx.spec.persistence.enabled && ordinal !== undefined) {
    await ctx.kube.delete({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claimName(ctx.ref.name, ordinal), namespace: ctx.ref.namespace },
    });
  }
}

export async function removeSurplus(
  ctx: ActContext,
  pass: PassState,
  step: Extract<Step, { kind: 'remove-surplus' }>,
  work: RoundWork,
): Promise<void> {
  for (const node of step.nodes) {
    if (node.nodeId) {
      stillHeld(ctx, pass);
      const result = await removeReplica(ctx.pool, node.nodeId, { endpoints: step.endpoints });
      work.actions.push(...result.actions);
    }
    await deletePod(ctx, node.pod);
  }
}

async function removeFromCluster(ctx: ActContext, node: NodeToRemove & { nodeId: string }, endpoints: Endpoint[]): Promise<EngineAction[]> {
  const result = node.master
    ? await removeNode(ctx.pool, node.nodeId, { endpoints })
    : await removeReplica(ctx.pool, node.nodeId, { endpoints });
  return result.actions;
}

/** A drained shard: its replicas, then its empty master, leave the cluster; then its Pods go. */
export async function removeDrained(
  ctx: ActContext,
  pass: PassState,
  step: Extract<Step, { kind: 'remove-drained' }>,
  work: RoundWork,
): Promise<void> {
  for (const { shard, nodes } of step.shards) {
    stillHeld(ctx, pass);
    for (const node of nodes) {
      if (node.nodeId) {
        const actions = await removeFromCluster(ctx, { ...node, nodeId: node.nodeId }, step.endpoints);
        work.actions.push(
          ...actions.map((a) =>
            a.kind === 'node-removed' ? { ...a, message: `${a.message}: Pod ${node.pod} of drained shard ${shard}` } : a,
          ),
        );
      }
      await deletePod(ctx, node.pod);
    }
  }
}

/**
 * A graceful failover to the chosen replica, confirmed on every node. Not confirmed in time: given
 * up for this round (a later look decides again); the replica may still finish it on its own.
 */
export async function movePrimary(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'move-primary' }>): Promise<void> {
  stillHeld(ctx, pass);
  try {
    await promote(ctx.pool, step.replica, { endpoints: step.endpoints, timeoutMs: PRIMARY_MOVE_MS });
  } catch (err) {
    ctx.log.warn({ replica: endpointKey(step.replica), err: errorMessage(err) }, 'moving a master to another machine failed');
    return;
  }
  ctx.log.info({ replica: endpointKey(step.replica) }, step.message);
  await ctx.record('PrimaryMoved', step.message);
}

/**
 * The master hands its slots to its replica (a graceful CLUSTER FAILOVER: the master stops writes
 * until the replica has caught up), confirmed on both; the old master, now a replica, is restarted
 * by a later round once it is in sync. A failure is only logged: the next round looks again.
 */
export async function failoverForUpdate(
  ctx: ActContext,
  pass: PassState,
  step: Extract<Step, { kind: 'failover-for-update' }>,
): Promise<void> {
  stillHeld(ctx, pass);
  const { master, replica, shard } = step;
  try {
    await failover(ctx.pool, replica.endpoint, { mode: 'graceful', confirmOn: [master.endpoint], formerMaster: master.endpoint });
  } catch (err) {
    ctx.log.warn({ shard, master: master.pod, replica: replica.pod, err: errorMessage(err) }, 'failover before a restart failed');
    return;
  }
  await ctx.record('Failover', `moved master of shard ${shard} from ${master.pod} to ${replica.pod} before its restart`);
}

/**
 * Evicts a Pod that runs an older spec, within the cluster's PodDisruptionBudget; its claim stays,
 * and the Pods step makes it again at the same ordinal. A refused eviction waits for a later round.
 */
export async function restartForUpdate(
  ctx: ActContext,
  pass: PassState,
  step: Extract<Step, { kind: 'restart-for-update' }>,
): Promise<void> {
  stillHeld(ctx, pass);
  try {
    await ctx.kube.evictPod(ctx.ref.namespace, step.pod);
  } catch (err) {
    if (!isTooManyRequests(err)) throw err;
    ctx.log.info({ pod: step.pod, err: errorMessage(err) }, 'the PodDisruptionBudget allows no eviction now; the roll waits');
    return;
  }
  const role = step.master ? 'master, with its data on its claim' : 'replica';
  await ctx.record('RollingUpdate', `restarting Pod ${step.pod} (${role} of shard ${step.shard}) for the new spec`);
}

/** Once its Pods are marked the shard wants no extra Pod, and the surplus step removes it. */
export async function forgoSurge(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'forgo-surge' }>): Promise<void> {
  stillHeld(ctx, pass);
  for (const pod of step.mark) await ctx.kube.annotatePod(ctx.ref.namespace, pod, { [ANNOTATION_SURGE_FORGONE]: step.hash });
  await ctx.record(
    'SurgeUnschedulable',
    `no machine takes ${step.pod}, the extra replica of shard ${step.shard}: the shard rolls without it, with one copy of its keys while each of its Pods restarts`,
  );
}

export function reshardRequest(ctx: ActContext, mode: ReshardMode, masters: number, reason: string): CloudEventV1<unknown> {
  const cluster = { namespace: ctx.ref.namespace, name: ctx.ref.name };
  return buildEvent(
    RESHARD_REQUESTED,
    { cluster, generation: ctx.generation, mode, masters, reason },
    { source: ctx.source },
  ) as CloudEventV1<unknown>;
}

/** The reply's request; a scale-out asked early keeps that request (it already went out). */
export function requestReshard(ctx: ActContext, pass: PassState, step: Extract<Step, { kind: 'request-reshard' }>): void {
  if (step.mode === 'scale-out' && pass.reshard) return;
  pass.reshard = { event: reshardRequest(ctx, step.mode, step.masters, step.reason), sent: false };
}

/** Posts the scale-out's request to the Broker now; when that fails, the pass asks once the Pods have joined. */
export async function requestReshardEarly(
  ctx: ActContext,
  pass: PassState,
  step: Extract<Step, { kind: 'request-reshard-early' }>,
): Promise<void> {
  if (!ctx.emit) return;
  const event = reshardRequest(ctx, 'scale-out', step.masters, step.reason);
  try {
    await ctx.emit(event);
    pass.reshard = { event, sent: true };
    ctx.log.info({ masters: step.masters }, 'reshard requested while the new Pods start');
  } catch (err) {
    ctx.log.warn({ err: errorMessage(err) }, 'asking for the reshard early failed; the pass asks once the Pods have joined');
  }
}

/** Every phase of the switch to spec.passwordSecret's password; a node that does not answer holds back the drop. */
async function rotateDefaultPassword(ctx: ActContext, step: Extract<Step, { kind: 'rotate-password' }>): Promise<void> {
  const plans = await rotatePasswordFully(ctx.pool, step.endpoints, ctx.password!);
  const last = plans.at(-1)!;
  const done = plans.filter((p) => 'steps' in p).map((p) => p.phase);
  if (last.phase === 'done' && done.includes('drop'))
    await ctx.record(
      'PasswordRotated',
      `the default user accepts only spec.passwordSecret's password on all ${step.endpoints.length} nodes`,
    );
  else if (last.phase === 'wait')
    await ctx.record(
      'PasswordRotating',
      `${done.length > 0 ? `${done.join(', ')} done; ` : ''}the old password is kept until ${last.unreachable.join(', ')} answer(s)`,
    );
}

/**
 * Does one step. 'busy': another holder has the Lease. 'look-again': what the nodes or Pods say
 * changed, so the next decision needs a new observation; 'same': it did not.
 */
export async function act(ctx: ActContext, pass: PassState, step: ActionStep, work: RoundWork): Promise<'busy' | 'look-again' | 'same'> {
  switch (step.kind) {
    case 'create-pods':
      await createPods(ctx, step);
      return 'look-again';
    case 'grow-claims':
      await growClaims(ctx, step);
      return 'look-again';
    case 'take-lease':
      return (await takeLease(ctx, pass)) ? 'same' : 'busy';
    case 'form':
      await form(ctx, pass, step, work);
      return 'look-again';
    case 'heal':
      // The live settings then go to the nodes that were members before healing.
      await healCluster(ctx, pass, step, work);
      return 'same';
    case 'apply-settings':
      await applySettings(ctx, step);
      return 'look-again';
    case 'reload-tls':
      await reloadCertificates(ctx, step);
      return 'look-again';
    case 'sweep-tls':
      await sweepTlsBus(ctx, step);
      return 'look-again';
    case 'apply-acl':
      work.acl = await syncAcl(ctx.kube, ctx.pool, ctx.ref.namespace, ctx.spec, step.endpoints, ctx.generation);
      return 'same';
    case 'rotate-password':
      await rotateDefaultPassword(ctx, step);
      return 'look-again';
    case 'place':
      await place(ctx, pass, step, work);
      return 'look-again';
    case 'remove-surplus':
      await removeSurplus(ctx, pass, step, work);
      return 'look-again';
    case 'request-reshard':
      requestReshard(ctx, pass, step);
      return 'same';
    case 'request-reshard-early':
      await requestReshardEarly(ctx, pass, step);
      return 'same';
    case 'remove-drained':
      await removeDrained(ctx, pass, step, work);
      return 'look-again';
    case 'move-primary':
      await movePrimary(ctx, pass, step);
      return 'look-again';
    case 'failover-for-update':
      await failoverForUpdate(ctx, pass, step);
      return 'look-again';
    case 'restart-for-update':
      await restartForUpdate(ctx, pass, step);
      return 'look-again';
    case 'forgo-surge':
      await forgoSurge(ctx, pass, step);
      return 'look-again';
  }
}
