// One reconcile pass over one RedisCluster: read it, make its objects and Pods, form or heal the
// Redis cluster under the cluster's Lease, decide whether a reshard is needed, write the status.
// Level-based: every pass starts from what the API server and the nodes say now.
import type { CloudEventV1 } from 'cloudevents';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  CONDITION_TYPES,
  LABEL_SHARD,
  nodePorts,
  selectorFor,
  validateSpec,
  type DefaultedSpec,
  type RedisCluster,
  type RedisClusterStatus,
} from '../../shared/api/index.js';
import { RESHARD_REQUESTED } from '../../shared/events/catalog.js';
import { buildEvent } from '../../shared/events/codec.js';
import { isConflict, ordinalOf, PasswordSecretError, readPassword, leaseHolder, leaseNameFor, LeaseLostError, tryAcquireLease, type EventRecorder, type HeldLease, type Kube, type ObjectRef } from '../../shared/kube/index.js';
import { checkCluster } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { removeNode, removeReplica } from '../../shared/redis/executor/remove.js';
import { attachReplica } from '../../shared/redis/executor/replicas.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { splitSlots } from '../../shared/redis/planner.js';
import type { ClusterProblem, CreatePlan, DesiredNode, EngineAction, NodeReport } from '../../shared/redis/types.js';
import { buildView as mergeReports, isFreshNode, type ClusterView as MergedView } from '../../shared/redis/view.js';
import { drainedShards, planPods, type ObservedPod, type PodRoles } from './pods.js';
import { buildClaim, buildConfigMap, buildPod, buildPodDisruptionBudget, buildService, claimName, configDrift, liveSettings, type ClusterIdentity } from './resources.js';
import { computeStatus, isReady, readyCounts, statusChanged, type Blocker } from './status.js';
import { RetryError } from './errors.js';
import { teardown } from './teardown.js';
import { setCondition, withCondition, type Condition } from '../../shared/kube/conditions.js';
import { errorMessage } from '../../shared/errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const FINALIZER = 'redis.redis/finalizer';
/** A reshard whose progress is older than this is taken as abandoned. */
export const RESHARD_STALE_MS = 5 * 60_000;
/** How long a new Pod may take to start and join before a reshard goes ahead without it. */
const POD_START_GRACE_MS = 60_000;
/** How long a shard's placement waits for a Pod that has an address but does not answer yet. */
const NEW_POD_ANSWER_MS = 3000;
/** Only a Pod younger than this is waited for: an older one that does not answer is broken, not starting. */
const NEW_POD_ANSWER_GRACE_MS = 30_000;
/** A requested reshard that has not started within this is requested again. */
export const RESHARD_REQUEST_GRACE_MS = 60_000;

export interface ReconcileDeps {
  kube: Kube;
  recorder: EventRecorder;
  log: Logger;
  /** Lease holder identity of this process. */
  holder: string;
  /** CloudEvent source of the events this function builds. */
  source: string;
  /** How long one pass may keep converging before it answers (well under the Knative timeout). */
  passBudgetMs?: number;
  leaseDurationSeconds?: number;
  /**
   * Posts an event to the Broker outside the reply (K_SINK). With it, a scale-out asks for its
   * reshard while the new Pods start, so the reshard function's cold start overlaps theirs.
   */
  emit?: (event: CloudEventV1<unknown>) => Promise<void>;
}

export type PassResult =
  | { kind: 'done'; phase?: string }
  /** A reshard must run: the reply that asks for it. */
  | { kind: 'reshard'; event: CloudEventV1<unknown>; phase?: string }
  /** Another holder has the Lease: it, or the next event, continues. */
  | { kind: 'busy' }
  /** The cluster does not exist (any more). */
  | { kind: 'gone' };


/** A Pod as one pass sees it. */
interface PodInfo extends ObservedPod {
  pod: V1Pod;
  ready: boolean;
  ip?: string;
  port: number;
  busPort: number;
  node?: string;
  unschedulable?: string;
}

function podInfo(clusterName: string, spec: DefaultedSpec, pod: V1Pod): PodInfo | undefined {
  const name = pod.metadata?.name ?? '';
  const ordinal = ordinalOf(clusterName, name);
  if (ordinal === undefined) return undefined;
  const shardText = pod.metadata?.labels?.[LABEL_SHARD];
  const shard = shardText !== undefined && /^\d+$/.test(shardText) ? Number(shardText) : undefined;
  const conditions = pod.status?.conditions ?? [];
  const ready = pod.status?.phase === 'Running' && conditions.some((c) => c.type === 'Ready' && c.status === 'True') && !!pod.status?.podIP;
  const scheduled = conditions.find((c) => c.type === 'PodScheduled');
  const { port, busPort } = nodePorts(spec, ordinal);
  const info: PodInfo = { name, ordinal, shard, deleting: !!pod.metadata?.deletionTimestamp, pod, ready, port, busPort };
  if (pod.status?.podIP) info.ip = pod.status.podIP;
  if (pod.spec?.nodeName) info.node = pod.spec.nodeName;
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') info.unschedulable = scheduled.message ?? 'Unschedulable';
  return info;
}

const podCreatedAt = (p: PodInfo): number => {
  const t = p.pod.metadata?.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
};
const desiredNode = (p: PodInfo): DesiredNode => ({ name: p.name, ip: p.ip!, port: p.port, busPort: p.busPort, domain: p.node ?? p.ip! });
const endpoint = (p: PodInfo) => ({ ip: p.ip!, port: p.port });

/** What the nodes of the cluster's Pods say, keyed by Pod name. */
interface RedisPicture {
  reports: Map<string, NodeReport>;
  all: NodeReport[];
  view: MergedView;
  /** The view of the joined nodes only: what the status lists. */
  memberView: MergedView;
  /** Pods whose node has joined the cluster (is not a fresh node). */
  members: Set<string>;
  roles: PodRoles;
  /** Any slot assigned in any view. */
  anySlots: boolean;
}

async function readPicture(pool: RedisPool, pods: PodInfo[]): Promise<RedisPicture> {
  const withIp = pods.filter((p) => p.ip && !p.deleting);
  const { reports } = await pool.readAll(withIp.map(endpoint));
  const byEndpoint = new Map(reports.map((r) => [endpointKey(r.address), r]));
  const byPod = new Map<string, NodeReport>();
  for (const p of withIp) {
    const r = byEndpoint.get(endpointKey(endpoint(p)));
    if (r) byPod.set(p.name, r);
  }
  const view = mergeReports(reports);
  const members = new Set<string>();
  const slotHolders = new Set<string>();
  const masters = new Set<string>();
  for (const [name, r] of byPod) {
    if (isFreshNode(r)) continue;
    members.add(name);
    const node = view.nodes.get(r.myId);
    if (node?.role === 'master') masters.add(name);
    if (node && node.slots.length > 0) slotHolders.add(name);
    // Any view that gives it slots (a stale one too) makes it a holder: never delete it.
    if (reports.some((x) => x.nodes.some((v) => v.id === r.myId && v.role === 'master' && v.slots.length > 0))) slotHolders.add(name);
  }
  const anySlots = view.owners.some((o) => o !== undefined);
  const memberView = mergeReports([...byPod.entries()].filter(([name]) => members.has(name)).map(([, r]) => r));
  return { reports: byPod, all: reports, view, memberView, members, roles: { slotHolders, masters }, anySlots };
}

/** The create plan from the shards: the master of shard s is its lowest ordinal Pod. */
export function shardCreatePlan(shards: { shard: number; pods: string[] }[]): CreatePlan {
  const ranges = splitSlots(shards.length);
  return {
    masters: shards.map((s, i) => ({ node: s.pods[0]!, slots: [ranges[i]!] })),
    replicas: shards.flatMap((s) => s.pods.slice(1).map((node) => ({ node, masterNode: s.pods[0]! }))),
  };
}

const EVENT_REASON: Partial<Record<EngineAction['kind'], string>> = {
  replicate: 'NodeAdded',
  failover: 'Failover',
  forget: 'NodeForgotten',
  'node-removed': 'NodeRemoved',
  'slots-recovered-empty': 'SlotsRecoveredEmpty',
};

/** The nodes' password; a Secret only a person can fix blocks the cluster instead of failing the pass. */
async function secretPassword(kube: Kube, namespace: string, spec: DefaultedSpec): Promise<{ password?: string; blocker?: Blocker }> {
  try {
    const password = await readPassword(kube, namespace, spec.passwordSecret);
    return password === undefined ? {} : { password };
  } catch (err) {
    if (err instanceof PasswordSecretError && err.problem !== 'Unreadable') return { blocker: { reason: 'SecretMissing', message: err.message } };
    throw err;
  }
}

/** Creates the object, or merge-patches it when `same` says the stored one differs. */
async function ensureObject<T extends KubernetesObject>(kube: Kube, desired: T, same: (stored: T) => boolean): Promise<void> {
  const stored = await kube.read(desired);
  if (stored && same(stored)) return;
  await kube.apply(desired);
}

const json = (v: unknown) => JSON.stringify(v);

export async function reconcileCluster(ref: ObjectRef, deps: ReconcileDeps): Promise<PassResult> {
  const started = Date.now();
  const budget = deps.passBudgetMs ?? 120_000;
  // A spec change during a pass restarts it with the new spec: the change's own event found the
  // Lease taken and was acknowledged, so no other delivery would bring it here before the resync.
  for (;;) {
    const result = await onePass(ref, deps, started + budget);
    if (result.kind !== 'spec-changed') return result;
    deps.log.info({ generation: result.generation }, 'the spec changed during the pass: starting over with it');
  }
}

type PassOutcome = PassResult | { kind: 'spec-changed'; generation: number | undefined };

async function onePass(ref: ObjectRef, deps: ReconcileDeps, deadline: number): Promise<PassOutcome> {
  const { kube, log } = deps;
  const passStarted = Date.now();
  let cr = await kube.getCluster<RedisCluster>(ref);
  if (!cr) return { kind: 'gone' };

  // 1. Deletion and the finalizer.
  if (cr.metadata.deletionTimestamp) {
    const spec = validateSpec(cr.spec);
    const password = spec.ok ? (await secretPassword(kube, ref.namespace, spec.spec).catch(() => ({ password: undefined }))).password : undefined;
    await teardown(kube, cr, { log, ...(password ? { password } : {}), finalizer: FINALIZER });
    return { kind: 'gone' };
  }
  if (!(cr.metadata.finalizers ?? []).includes(FINALIZER)) {
    try {
      cr = (await kube.patchCluster(ref, { metadata: { finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER] } }, cr.metadata.resourceVersion)) as RedisCluster;
    } catch (err) {
      if (isConflict(err)) throw new RetryError(`adding the finalizer raced another write: ${errorMessage(err)}`, 409);
      throw err;
    }
  }
  const generation = cr.metadata.generation ?? 0;
  const prevStatus = cr.status;
  const identity: ClusterIdentity = { name: ref.name, namespace: ref.namespace, uid: cr.metadata.uid ?? '' };
  const record = (type: 'Normal' | 'Warning', reason: string, message: string) =>
    deps.recorder.record(cr as KubernetesObject, type, reason, message).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'recording an Event failed'));

  let stored = prevStatus;
  // The Resharding condition belongs to the reshard function: a write carries its latest one, read
  // just before, unless this pass is the one asking for a reshard (`reshardClaim`).
  const writeStatus = async (computed: RedisClusterStatus, reshardClaim?: Condition) => {
    const theirs = reshardClaim ?? (await kube.getCluster<RedisCluster>(ref))?.status?.conditions?.find((c) => c.type === CONDITION_TYPES.Resharding);
    const next = { ...computed, conditions: withCondition(computed.conditions ?? [], CONDITION_TYPES.Resharding, theirs as Condition | undefined) };
    if (!statusChanged(stored, next)) return;
    await kube.patchClusterStatus(ref, next as Record<string, unknown>);
    const before = stored;
    stored = { ...stored, ...next };
    const was = isReady(before);
    const now = isReady(next);
    if (was && !now && next.phase !== 'Resharding' && next.phase !== 'Scaling') {
      await record('Warning', 'Degraded', next.conditions?.find((c) => c.type === CONDITION_TYPES.Ready)?.message ?? 'not ready');
    } else if (!was && now && before?.conditions?.some((c) => c.type === CONDITION_TYPES.Ready)) {
      await record('Normal', before.phase === 'Creating' ? 'ClusterReady' : 'Recovered', next.conditions!.find((c) => c.type === CONDITION_TYPES.Ready)!.message);
    }
  };

  // 2. A spec the operator cannot honour: say so, touch nothing.
  const validated = validateSpec(cr.spec);
  if (!validated.ok) {
    const message = validated.errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    await record('Warning', 'InvalidSpec', message);
    await writeStatus(
      computeStatus(prevStatus, {
        clusterName: ref.name, generation, blocker: { reason: 'InvalidSpec', message }, formed: false, podsWanted: 0, podsReady: 0,
        podByEndpoint: new Map(), masters: 0, replicasPerMaster: 0, problems: [], resharding: false, scaling: false,
      }),
    );
    return { kind: 'done', phase: 'Failed' };
  }
  const spec = validated.spec;
  const secret = await secretPassword(kube, ref.namespace, spec);

  // 3. ConfigMap, Service, PDB.
  const cm = buildConfigMap(identity, spec);
  await ensureObject(kube, cm, (s) => json(s.data) === json(cm.data));
  const svc = buildService(identity, spec);
  await ensureObject(kube, svc, (s) => json(s.spec?.ports?.map((p) => p.port)) === json(svc.spec!.ports!.map((p) => p.port)) && json(s.spec?.selector) === json(svc.spec!.selector));
  const pdb = buildPodDisruptionBudget(identity);
  await ensureObject(kube, pdb, (s) => s.spec?.maxUnavailable === 1 && json(s.spec?.selector) === json(pdb.spec!.selector));

  const pool = new RedisPool({ ...(secret.password ? { password: secret.password } : {}), connectTimeoutMs: 1000, commandTimeoutMs: 5000 });
  let lease: HeldLease | undefined;
  // Another writer may own the cluster once the Lease is lost: every mutation checks first.
  let leaseLost: unknown;
  const stillHeld = () => {
    if (leaseLost) throw leaseLost instanceof Error ? leaseLost : new LeaseLostError(leaseNameFor(ref.name), undefined);
  };
  try {
    const listPods = async (): Promise<PodInfo[]> => {
      const list = await kube.core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selectorFor(ref.name) });
      return list.items.map((p) => podInfo(ref.name, spec, p)).filter((p): p is PodInfo => p !== undefined);
    };
    const formedBefore = prevStatus?.conditions?.some((c) => c.type === CONDITION_TYPES.SlotsAssigned) ?? false;
    // A reshard that stopped reporting (its function gone for good) no longer holds slots still.
    const reshardSeen = Date.parse(prevStatus?.reshard?.updatedAt ?? prevStatus?.reshard?.startedAt ?? '');
    const reshardRunning =
      (prevStatus?.reshard?.state === 'Running' || prevStatus?.reshard?.state === 'Planned') &&
      !(Date.now() - reshardSeen > RESHARD_STALE_MS);
    // Requested by an earlier pass and not started yet: the reshard function is waiting for the Lease.
    const reshardCondition = prevStatus?.conditions?.find((c) => c.type === CONDITION_TYPES.Resharding);
    const reshardRequested =
      reshardCondition?.status === 'True' &&
      reshardCondition.reason === 'Requested' &&
      reshardCondition.observedGeneration === generation &&
      Date.now() - Date.parse(reshardCondition.lastTransitionTime ?? '') < RESHARD_REQUEST_GRACE_MS;
    let reshardEvent: CloudEventV1<unknown> | undefined;
    /** The request already went to the Broker (asked early): the pass does not reply with it. */
    let reshardSent = false;

    for (let round = 0; ; round++) {
      if (round > 0) {
        const latest = await kube.getCluster<RedisCluster>(ref);
        if (latest?.metadata.generation !== generation || latest.metadata.deletionTimestamp) return { kind: 'spec-changed', generation: latest?.metadata.generation };
      }
      let pods = await listPods();
      // A running reshard holds the Lease and every Pod is up: nothing here may change Redis until it
      // is done (its completion brings a pass), and reading every node for each of its progress
      // writes would only slow it down.
      if (round === 0 && reshardRunning && pods.length === spec.masters * (1 + spec.replicas) && pods.every((p) => p.ready && !p.deleting)) {
        const holder = await leaseHolder(kube, ref);
        if (holder !== undefined && holder !== deps.holder) return { kind: 'busy' };
      }
      let picture = await readPicture(pool, pods);
      const formed = formedBefore || picture.anySlots;

      // 4. Pods: create the missing ones of the kept shards.
      const plan = planPods({ masters: spec.masters, replicas: spec.replicas, pods, roles: picture.roles, formed, members: picture.members });
      if (!secret.blocker) {
        for (const c of plan.create) {
          if (spec.persistence.enabled) await kube.apply(buildClaim(identity, spec, c.ordinal));
          try {
            await kube.core.createNamespacedPod({ namespace: ref.namespace, body: buildPod(identity, spec, c.ordinal, c.shard) });
            log.info({ pod: `${ref.name}-${c.ordinal}`, shard: c.shard }, 'Pod created');
          } catch (err) {
            if (!isConflict(err)) throw err;
          }
        }
        if (plan.create.length) pods = await listPods();
      }
      const kept = new Set(plan.shards);
      const wanted = pods.filter((p) => p.shard !== undefined && kept.has(p.shard) && !p.deleting);
      const unschedulable = pods.find((p) => p.unschedulable);
      const blocker: Blocker | undefined =
        secret.blocker ?? (unschedulable ? { reason: 'Unschedulable', message: `Pod ${unschedulable.name} cannot be placed: ${unschedulable.unschedulable}` } : undefined);
      if (blocker && round === 0) await record('Warning', blocker.reason, blocker.message);

      // 5. The Lease, before any change to Redis; none needed when the cluster already is as
      // desired (the common case: our own status write, a resync, a duplicate event).
      const ready = wanted.filter((p) => p.ready);
      const actions: EngineAction[] = [];
      const problems: ClusterProblem[] = [];
      const perShardCount = 1 + spec.replicas;
      const inShape =
        formed &&
        generation === prevStatus?.observedGeneration &&
        !blocker &&
        plan.create.length === 0 &&
        plan.surplus.length === 0 &&
        plan.shards.length === spec.masters &&
        wanted.length === spec.masters * perShardCount &&
        wanted.every((p) => p.ready && picture.members.has(p.name)) &&
        readyCounts(picture.view).slotOwners === spec.masters &&
        checkCluster([...picture.reports.values()], {
          nodes: wanted.map(desiredNode),
          masters: spec.masters,
          replicasPerMaster: spec.replicas,
        }).length === 0;
      // While a reshard is requested or runs, its function needs the Lease (to start, and between
      // chunks); a pass with no Pod to place leaves it alone (healing waits for the reshard anyway).
      const reshardOnly =
        (reshardRunning || reshardRequested) && plan.create.length === 0 && plan.surplus.length === 0 && wanted.every((p) => p.ready && picture.members.has(p.name));
      // Nor does it write the status: the reshard function reports progress, and slot ranges that
      // change with every move would make each write trigger the next pass.
      if (reshardOnly && !lease) return { kind: 'done', ...(stored?.phase ? { phase: stored.phase } : {}) };
      if (!blocker && !inShape && !reshardOnly && ready.length > 0 && !lease) {
        lease = await tryAcquireLease(kube, ref, { holder: deps.holder, durationSeconds: deps.leaseDurationSeconds ?? 15 });
        if (!lease) return { kind: 'busy' };
        lease.keepRenewed((err) => {
          leaseLost = err;
          log.warn({ err: errorMessage(err) }, 'Lease lost: no further Redis mutation in this pass');
        });
      }

      // 6. Form, or heal and place replicas.
      const perShard = 1 + spec.replicas;
      if (!blocker && lease) {
        if (!formed) {
          const shards = plan.shards.map((shard) => ({
            shard,
            pods: wanted.filter((p) => p.shard === shard).sort((a, b) => a.ordinal - b.ordinal),
          }));
          if (shards.every((s) => s.pods.length === perShard && s.pods.every((p) => p.ready))) {
            const desired = shards.flatMap((s) => s.pods.map(desiredNode));
            const createPlan = shardCreatePlan(shards.map((s) => ({ shard: s.shard, pods: s.pods.map((p) => p.name) })));
            stillHeld();
            const result = await ensureCreated(pool, desired, createPlan);
            problems.push(...result.problems);
            if (result.actions.some((a) => a.kind === 'add-slots')) {
              await record('Normal', 'ClusterCreated', `formed ${spec.masters} masters with ${spec.replicas} replicas each: ${createPlan.masters.map((m) => m.node).join(', ')} own the slots`);
            }
          }
        } else {
          const desired = pods.filter((p) => p.ip && !p.deleting).map(desiredNode);
          if (!reshardRunning && picture.members.size > 0) {
            stillHeld();
            // No settling inside heal: the next round, a moment later, looks at the cluster again.
            const result = await heal(pool, desired, { masters: spec.masters, allowDataLoss: spec.allowDataLoss, stepTimeoutMs: 20_000, settleMs: 0 });
            actions.push(...result.actions);
            // A lost shard waits for a person: the status says so, and the Warning says what to do.
            const lost = result.problems.filter((p) => p.code === 'slots-uncovered');
            problems.push(...lost);
            for (const p of lost) await record('Warning', 'SlotsLost', p.message);
          }
          await applyLiveSettings(pool, [...picture.reports.entries()].filter(([n]) => picture.members.has(n)).map(([, r]) => r.address), spec, log);
          picture = await readPicture(pool, pods);
          stillHeld();
          actions.push(...(await placeNodes(pool, plan.shards, wanted, picture, spec.masters, log)));
          // Surplus replicas (replicas lowered): out of the cluster first, then the Pod.
          picture = await readPicture(pool, pods);
          for (const name of plan.surplus) {
            if (picture.roles.slotHolders.has(name) || picture.roles.masters.has(name)) continue;
            const report = picture.reports.get(name);
            if (report && picture.members.has(name)) {
              stillHeld();
              const result = await removeReplica(pool, report.myId, { endpoints: pods.filter((p) => p.ip).map(endpoint) });
              actions.push(...result.actions);
            }
            await deletePod(kube, identity, name, spec);
          }
        }
      }

      // 7. Masters: ask for a reshard, or remove the shards a reshard has drained.
      picture = await readPicture(pool, pods);
      const counts = readyCounts(picture.view);
      const slotShards = new Set(wanted.filter((p) => picture.roles.masters.has(p.name) && p.shard !== undefined).map((p) => p.shard!));
      let resharding = reshardRunning || reshardRequested;
      if (!blocker && lease && formed && !reshardRunning && counts.slotOwners > 0) {
        // Every new master joined, and no Pod that is still starting left to join: the reshard and
        // a later pass placing that Pod would otherwise take turns with the Lease. A Pod that does
        // not come up within a minute does not hold the reshard back.
        const starting = wanted.filter((p) => !picture.members.has(p.name) && Date.now() - podCreatedAt(p) < POD_START_GRACE_MS);
        const allJoined = plan.shards.every((s) => slotShards.has(s)) && starting.length === 0;
        const request = (mode: 'scale-out' | 'scale-in') =>
          reshardRequest(ref, generation, mode, spec.masters, `masters ${counts.slotOwners} -> ${spec.masters}`, deps.source);
        if (counts.slotOwners < spec.masters && allJoined) {
          reshardEvent ??= request('scale-out');
          resharding = true;
        } else if (counts.slotOwners < spec.masters && !reshardEvent && !reshardRequested && deps.emit) {
          // New shards are starting: ask now. The reshard function starts meanwhile and waits for
          // this pass's Lease, which is released once every new Pod has joined.
          const early = request('scale-out');
          try {
            await deps.emit(early);
            reshardEvent = early;
            reshardSent = true;
            log.info({ masters: spec.masters }, 'reshard requested while the new Pods start');
          } catch (err) {
            log.warn({ err: errorMessage(err) }, 'asking for the reshard early failed; the pass asks once the Pods have joined');
          }
        } else if (counts.slotOwners > spec.masters) {
          reshardEvent = request('scale-in');
          resharding = true;
        } else if (counts.slotOwners === spec.masters && counts.masters === spec.masters) {
          const drained = drainedShards({ masters: spec.masters, slotOwners: counts.slotOwners, pods: wanted, roles: picture.roles, members: picture.members });
          for (const shard of drained) {
            stillHeld();
            actions.push(...(await removeShard(kube, pool, identity, spec, shard, pods, picture)));
          }
          if (drained.length) picture = await readPicture(pool, (pods = await listPods()));
        }
      }

      for (const a of actions) {
        const reason = EVENT_REASON[a.kind];
        if (reason) await record(a.kind === 'slots-recovered-empty' ? 'Warning' : 'Normal', reason, a.message);
      }

      // 8. Status.
      const livePods = pods.filter((p) => !p.deleting && p.shard !== undefined && kept.has(p.shard));
      const members = [...picture.reports.entries()].filter(([name]) => picture.members.has(name)).map(([, r]) => r);
      const memberPods = livePods.filter((p) => p.ip && (picture.members.has(p.name) || !picture.reports.has(p.name)));
      const unreachable = memberPods.filter((p) => !picture.reports.has(p.name)).map(endpoint);
      if (formed && members.length) {
        problems.push(
          ...checkCluster(members, {
            nodes: memberPods.map(desiredNode),
            masters: spec.masters,
            replicasPerMaster: spec.replicas,
            unreachable,
          }),
        );
      }
      const podByEndpoint = new Map(pods.filter((p) => p.ip && !p.deleting).map((p) => [endpointKey(endpoint(p)), p.name]));
      const podsWanted = plan.shards.length * perShard;
      const podsReady = livePods.filter((p) => p.ready).length;
      const scaling = livePods.length !== podsWanted || plan.surplus.length > 0;
      const next = computeStatus(stored, {
        clusterName: ref.name,
        generation,
        ...(blocker ? { blocker } : {}),
        formed: formed || picture.anySlots,
        podsWanted,
        podsReady,
        ...(picture.members.size ? { view: picture.memberView } : {}),
        podByEndpoint,
        masters: spec.masters,
        replicasPerMaster: spec.replicas,
        problems,
        resharding,
        scaling,
      });
      const reshardClaim = reshardEvent
        ? setCondition(next.conditions ?? [], {
            type: CONDITION_TYPES.Resharding,
            status: 'True',
            reason: 'Requested',
            message: (reshardEvent.data as { reason: string }).reason,
            observedGeneration: generation,
          }).find((c) => c.type === CONDITION_TYPES.Resharding)
        : undefined;
      // Kept by later rounds, which start from the stored conditions.
      const recoveredEmpty = actions.filter((a) => a.kind === 'slots-recovered-empty');
      if (recoveredEmpty.length) {
        next.conditions = setCondition(next.conditions ?? [], {
          type: CONDITION_TYPES.DataLoss,
          status: 'True',
          reason: 'SlotsRecoveredEmpty',
          message: recoveredEmpty.map((a) => a.message).join('; '),
          observedGeneration: generation,
        });
      }
      // Every round that changes what a person would read writes it; an unchanged status is not written.
      await writeStatus(next, reshardClaim);
      const settled = next.phase === 'Ready' || !!blocker || resharding || !lease;
      if (settled || Date.now() > deadline) {
        return reshardEvent && !reshardSent ? { kind: 'reshard', event: reshardEvent, phase: next.phase } : { kind: 'done', phase: next.phase };
      }
      // Not there yet (a failover under way, a Pod starting): look again shortly, within the budget.
      if (round % 10 === 0) log.info({ round, phase: next.phase, reason: next.conditions?.find((c) => c.type === CONDITION_TYPES.Ready)?.message }, 'not converged yet');
      // Pods that just started become ready within a second or two: look sooner for them.
      const podsStarting = wanted.some((p) => !p.ready) && Date.now() - passStarted < 10_000;
      await sleep(podsStarting ? 250 : 1000);
      await lease?.renew().catch(() => undefined);
    }
  } finally {
    await lease?.release();
    await pool.close();
  }
}

function reshardRequest(ref: ObjectRef, generation: number, mode: 'scale-out' | 'scale-in', masters: number, reason: string, source: string): CloudEventV1<unknown> {
  return buildEvent(RESHARD_REQUESTED, { cluster: { namespace: ref.namespace, name: ref.name }, generation, mode, masters, reason }, { source }) as CloudEventV1<unknown>;
}

/**
 * New shards get their lowest ordinal Pod joined as an empty master (the reshard gives it slots);
 * fresh Pods of a shard whose master is known become its replicas. A Pod that has an address but
 * does not answer yet, and was created a moment ago, is waited for (a few seconds) by its shard's
 * job: shards whose Pods start a little apart are then placed side by side, not one round apart.
 */
async function placeNodes(pool: RedisPool, shards: number[], pods: PodInfo[], picture: RedisPicture, masters: number, log: Logger): Promise<EngineAction[]> {
  const actions: EngineAction[] = [];
  const memberReports = [...picture.reports.entries()].filter(([n]) => picture.members.has(n)).map(([, r]) => r);
  const seed = memberReports.find((r) => picture.view.nodes.get(r.myId)?.role === 'master' && (picture.view.nodes.get(r.myId)?.slots.length ?? 0) > 0) ?? memberReports[0];
  if (!seed) return actions;
  const joined = new Set(pods.filter((p) => picture.members.has(p.name)).map((p) => p.shard));

  /** The fresh nodes among `candidates`, waiting for those that have only just started. */
  const freshNodes = async (candidates: PodInfo[]): Promise<{ pod: PodInfo; report: NodeReport }[]> => {
    const answered = await Promise.all(
      candidates.map(async (pod) => {
        const known = picture.reports.get(pod.name);
        if (known) return { pod, report: known };
        const report = await waitFor(`${pod.name} to answer`, NEW_POD_ANSWER_MS, () => pool.readReport(endpoint(pod)).catch(() => undefined), 100).catch(() => undefined);
        return report ? { pod, report } : undefined;
      }),
    );
    return answered.filter((a): a is { pod: PodInfo; report: NodeReport } => a !== undefined && isFreshNode(a.report));
  };

  /** A new shard: its first Pod joins as an empty master (the reshard gives it slots). */
  const joinMaster = async (first: PodInfo, myId: string, shard: number): Promise<void> => {
    await pool.call(endpoint(first), 'CLUSTER', 'MEET', seed.address.ip, seed.address.port);
    await waitFor(`${first.name} to join the cluster`, 20_000, async () => {
      const { reports } = await pool.readAll([seed.address]);
      return reports[0]?.nodes.some((v) => v.id === myId && !v.flags.includes('handshake')) ? true : undefined;
    }, 200);
    actions.push({ kind: 'meet', nodeId: myId, message: `${first.name} joined as an empty master of shard ${shard}` });
  };

  // Shards are placed side by side: each joins its master, then attaches its replicas.
  const jobs: Promise<void>[] = [];
  for (const shard of shards) {
    const inShard = pods.filter((p) => p.shard === shard).sort((a, b) => a.ordinal - b.ordinal);
    const members = inShard.filter((p) => picture.members.has(p.name));
    // A node that answers is placed at once: its Pod turns Ready on the next readiness probe, a
    // TCP check that says no more than the answer already did.
    const candidates = inShard.filter(
      (p) => p.ip && !p.deleting && !picture.members.has(p.name) && (picture.reports.has(p.name) || Date.now() - podCreatedAt(p) < NEW_POD_ANSWER_GRACE_MS),
    );
    if (candidates.length === 0) continue;
    const existing = members.find((p) => picture.roles.masters.has(p.name));
    // Only while fewer shards than masters have joined: a shard left over from a drain never rejoins.
    const newShard = !existing && members.length === 0 && joined.size < masters;
    if (newShard) joined.add(shard);
    else if (!existing) {
      log.info({ shard }, 'shard has no master yet (failover under way); its new Pods wait');
      continue;
    }
    jobs.push(
      (async () => {
        const fresh = await freshNodes(candidates);
        let master = existing;
        let masterId = existing ? picture.reports.get(existing.name)?.myId : undefined;
        if (!master) {
          // The lowest ordinal that answered: the shard's master, as at creation.
          const first = fresh.shift();
          if (!first) return;
          master = first.pod;
          masterId = first.report.myId;
          await joinMaster(first.pod, first.report.myId, shard);
        }
        if (!masterId) return;
        const masterPod = master;
        const attached = await Promise.allSettled(
          fresh.map(async ({ pod }) => {
            // Meeting its master directly: REPLICATE needs the master known, which gossip alone takes seconds to tell.
            const done = await attachReplica(pool, endpoint(pod), masterId, { seed: endpoint(masterPod), seedBusPort: masterPod.busPort, timeoutMs: 60_000 });
            for (const x of done) if (x.kind === 'replicate') actions.push({ ...x, message: `${pod.name} attached as a replica of ${masterPod.name} (shard ${shard})` });
          }),
        );
        for (const r of attached) if (r.status === 'rejected') log.warn({ shard, err: errorMessage(r.reason) }, 'attaching a replica failed');
      })(),
    );
  }
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === 'rejected') log.warn({ err: errorMessage(r.reason) }, 'joining a new shard failed');
  return actions;
}

/** CONFIG SET on every node whose running settings differ from the spec; a refusal is only logged. */
async function applyLiveSettings(pool: RedisPool, endpoints: { ip: string; port: number }[], spec: DefaultedSpec, log: Logger): Promise<void> {
  const wanted = liveSettings(spec);
  await Promise.all(
    endpoints.map(async (ep) => {
      try {
        const reply = (await pool.call(ep, 'CONFIG', 'GET', ...Object.keys(wanted))) as string[];
        const current: Record<string, string> = {};
        for (let i = 0; i + 1 < reply.length; i += 2) current[reply[i]!.toLowerCase()] = reply[i + 1]!;
        for (const [key, value] of configDrift(wanted, current)) {
          await pool.call(ep, 'CONFIG', 'SET', key, value);
          log.info({ node: endpointKey(ep), key, value }, 'setting applied to a running node');
        }
      } catch (err) {
        log.warn({ node: endpointKey(ep), err: errorMessage(err) }, 'a setting could not be applied live; it applies when the node restarts');
      }
    }),
  );
}

/** Deletes a node's Pod and, with persistence, its claim: the node is out of the cluster for good. */
async function deletePod(kube: Kube, cluster: ClusterIdentity, name: string, spec: DefaultedSpec): Promise<void> {
  await kube.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: cluster.namespace } });
  const ordinal = ordinalOf(cluster.name, name);
  if (spec.persistence.enabled && ordinal !== undefined) {
    await kube.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: claimName(cluster.name, ordinal), namespace: cluster.namespace } });
  }
}

/** A drained shard: its replicas, then its empty master, leave the cluster; then its Pods go. */
async function removeShard(kube: Kube, pool: RedisPool, cluster: ClusterIdentity, spec: DefaultedSpec, shard: number, pods: PodInfo[], picture: RedisPicture): Promise<EngineAction[]> {
  const actions: EngineAction[] = [];
  const inShard = pods.filter((p) => p.shard === shard);
  const endpoints = pods.filter((p) => p.ip).map(endpoint);
  const ordered = [...inShard].sort((a, b) => Number(picture.roles.masters.has(a.name)) - Number(picture.roles.masters.has(b.name)));
  for (const p of ordered) {
    const r = picture.reports.get(p.name);
    if (r && picture.members.has(p.name)) {
      const result = picture.roles.masters.has(p.name)
        ? await removeNode(pool, r.myId, { endpoints })
        : await removeReplica(pool, r.myId, { endpoints });
      actions.push(...result.actions.map((a) => (a.kind === 'node-removed' ? { ...a, message: `${a.message}: Pod ${p.name} of drained shard ${shard}` } : a)));
    }
    await deletePod(kube, cluster, p.name, spec);
  }
  return actions;
}
