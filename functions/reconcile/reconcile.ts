// One reconcile pass over one RedisCluster: read it, make its objects, then rounds of observe ->
// decide -> act until the round has nothing more to do, then write the status. Level-based: every
// pass starts from what the API server and the nodes say now.
import type { CloudEventV1 } from 'cloudevents';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CONDITION_TYPES, validateSpec, type DefaultedSpec, type RedisCluster, type RedisClusterStatus } from '../../shared/api/index.js';
import {
  isConflict,
  PasswordSecretError,
  readPassword,
  recordEvent,
  type EventRecorder,
  type Kube,
  type ObjectRef,
} from '../../shared/kube/index.js';
import { findCondition, setCondition, withCondition, type Condition } from '../../shared/kube/conditions.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { checkTlsSecret, type TlsVerdict } from '../../shared/tls/certificate.js';
import { clientTls, readTlsSecret } from '../../shared/tls/secret.js';
import { EndpointProtocols } from '../../shared/tls/layout.js';
import { act, type ActContext, type PassState, type RoundWork } from './act.js';
import { decide, endsRound, shapeOf, type RoundEnd, type StepKind } from './decide.js';
import { RetryError } from './errors.js';
import {
  listPods,
  observe,
  reshardState,
  type ClusterPicture,
  type Observation,
  type ObserveContext,
  type PassFacts,
  type PassMemory,
} from './observe.js';
import { EVENT_REASON, requestedCondition, roundStatus } from './report.js';
import { buildConfigMap, buildPodDisruptionBudget, buildService, ownerReference, restartHash, type ClusterIdentity } from './resources.js';
import { ensureUserPasswords, operatorLogin, readUserPasswords, type UserPasswords } from '../../shared/kube/users-secret.js';
import { passwordHash } from '../../shared/redis/planner/password.js';
import { buildNetworkPolicy, POLICY_HASH, type NetworkPolicyOptions } from './network-policy.js';
import { rollSettled, rollState, stuckMessage, type RollState } from './roll.js';
import { podsTlsOf, type PodsTls } from './tls-step.js';
import { computeStatus, isReady, statusChanged, type Blocker } from './status.js';
import { teardown } from './teardown.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../shared/errors.js';

export const FINALIZER = 'redis.redis/finalizer';

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
  /** Set when the chart enables networkPolicy: each cluster gets its NetworkPolicy. */
  networkPolicy?: NetworkPolicyOptions;
}

export type PassResult =
  | { kind: 'done'; phase?: string }
  /** A reshard must run: the reply that asks for it. */
  | { kind: 'reshard'; event: CloudEventV1<unknown>; phase?: string }
  /** Another holder has the Lease: it, or the next event, continues. */
  | { kind: 'busy' }
  /** The cluster does not exist (any more). */
  | { kind: 'gone' };

type RecordEvent = ActContext['record'];

/** The nodes' password; a Secret only a person can fix blocks the cluster instead of failing the pass. */
async function secretPassword(kube: Kube, namespace: string, spec: DefaultedSpec): Promise<{ password?: string; blocker?: Blocker }> {
  try {
    const password = await readPassword(kube, namespace, spec.passwordSecret);
    return password === undefined ? {} : { password };
  } catch (err) {
    if (err instanceof PasswordSecretError && err.problem !== 'Unreadable')
      return { blocker: { reason: 'SecretMissing', message: err.message } };
    throw err;
  }
}

/**
 * The TLS Secret, checked before anything uses it: a bad one blocks the cluster (its nodes keep
 * what they loaded); a good one gives the CA to connect with and the hash the nodes must have loaded.
 * While TLS is turned off the spec names none: the one the Pods mount is needed until they leave TLS.
 */
async function secretTls(
  kube: Kube,
  namespace: string,
  spec: DefaultedSpec,
  mounted?: string,
): Promise<{ verdict?: TlsVerdict; blocker?: Blocker }> {
  const name = spec.tls?.secretName ?? mounted;
  if (!name) return {};
  const verdict = checkTlsSecret(name, await readTlsSecret(kube, namespace, name), new Date());
  if (verdict.ok) return { verdict };
  const field = spec.tls ? 'spec.tls.secretName' : 'the Secret the nodes mount until TLS is off';
  return { blocker: { reason: 'TLSSecretInvalid', message: `${verdict.message} (${field})` } };
}

/** Creates the object, or merge-patches it when `same` says the stored one differs. */
async function ensureObject<T extends KubernetesObject>(kube: Kube, desired: T, same: (stored: T) => boolean): Promise<void> {
  const stored = await kube.read(desired);
  if (stored && same(stored)) return;
  await kube.apply(desired);
}

const json = (v: unknown) => JSON.stringify(v);

/** ConfigMap, Service, PDB and NetworkPolicy, created or patched when they differ. */
async function ensureObjects(
  kube: Kube,
  identity: ClusterIdentity,
  spec: DefaultedSpec,
  tls: PodsTls,
  policy?: NetworkPolicyOptions,
): Promise<void> {
  const cm = buildConfigMap(identity, spec, tls.conf);
  await ensureObject(kube, cm, (s) => json(s.data) === json(cm.data));
  const svc = buildService(identity, spec);
  await ensureObject(
    kube,
    svc,
    (s) =>
      json(s.spec?.ports?.map((p) => p.port)) === json(svc.spec!.ports!.map((p) => p.port)) &&
      json(s.spec?.selector) === json(svc.spec!.selector),
  );
  const pdb = buildPodDisruptionBudget(identity);
  await ensureObject(kube, pdb, (s) => s.spec?.maxUnavailable === 1 && json(s.spec?.selector) === json(pdb.spec!.selector));
  if (policy) {
    const np = buildNetworkPolicy(identity, spec, policy, tls.transition);
    await ensureObject(kube, np, (s) => s.metadata?.annotations?.[POLICY_HASH] === np.metadata!.annotations![POLICY_HASH]);
  }
}

/** The users Secret of a cluster with a password, made before any Pod that reads it; only read when paused. */
async function clusterUsers(kube: Kube, identity: ClusterIdentity, spec: DefaultedSpec): Promise<UserPasswords | undefined> {
  if (!spec.passwordSecret) return undefined;
  if (spec.paused) return readUserPasswords(kube, identity.namespace, identity.name);
  return ensureUserPasswords(kube, identity.namespace, identity.name, ownerReference(identity));
}

/** Writes the status when it changed, and the Degraded / Recovered Events its Ready flip calls for. */
class StatusWriter {
  constructor(
    private readonly kube: Kube,
    private readonly ref: ObjectRef,
    private readonly record: RecordEvent,
    public stored: RedisClusterStatus | undefined,
  ) {}

  /**
   * The Resharding condition belongs to the reshard function: a write carries its latest one, read
   * just before, unless this pass is the one asking for a reshard (`reshardClaim`).
   */
  async write(computed: RedisClusterStatus, reshardClaim?: Condition): Promise<void> {
    const theirs =
      reshardClaim ?? findCondition((await this.kube.getCluster<RedisCluster>(this.ref))?.status?.conditions, CONDITION_TYPES.Resharding);
    const next = {
      ...computed,
      conditions: withCondition(computed.conditions ?? [], CONDITION_TYPES.Resharding, theirs as Condition | undefined),
    };
    if (!statusChanged(this.stored, next)) return;
    await this.kube.patchClusterStatus(this.ref, next as Record<string, unknown>);
    const before = this.stored;
    this.stored = { ...before, ...next };
    const was = isReady(before);
    const now = isReady(next);
    const ready = findCondition(next.conditions, CONDITION_TYPES.Ready);
    // A reshard, a scale, a rolling update or a pause takes Ready away on purpose; their own Events say so.
    const deliberate = ['Resharding', 'Scaling', 'Updating', 'Paused'].includes(next.phase ?? '');
    if (was && !now && !deliberate) {
      await this.record('Degraded', ready?.message ?? 'not ready');
    } else if (!was && now && before?.phase !== 'Updating' && before && findCondition(before.conditions, CONDITION_TYPES.Ready)) {
      await this.record(before.phase === 'Creating' ? 'ClusterReady' : 'Recovered', ready!.message);
    }
  }
}

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

/** The RedisCluster with our finalizer, or the pass's answer when it is gone or being deleted. */
async function admit(ref: ObjectRef, deps: ReconcileDeps): Promise<RedisCluster | PassResult> {
  const { kube, log } = deps;
  const cr = await kube.getCluster<RedisCluster>(ref);
  if (!cr) return { kind: 'gone' };
  if (cr.metadata.deletionTimestamp) {
    const spec = validateSpec(cr.spec);
    const password = spec.ok
      ? (await secretPassword(kube, ref.namespace, spec.spec).catch(() => ({ password: undefined }))).password
      : undefined;
    const users =
      spec.ok && spec.spec.passwordSecret ? await readUserPasswords(kube, ref.namespace, ref.name).catch(() => undefined) : undefined;
    const tls = spec.ok ? (await secretTls(kube, ref.namespace, spec.spec).catch(() => ({ verdict: undefined }))).verdict : undefined;
    const ca = tls?.ok ? tls.ca : undefined;
    await teardown(kube, cr, { log, login: operatorLogin(users, password), ...(ca ? { tls: clientTls(ca) } : {}), finalizer: FINALIZER });
    return { kind: 'gone' };
  }
  if ((cr.metadata.finalizers ?? []).includes(FINALIZER)) return cr;
  try {
    return (await kube.patchCluster(
      ref,
      { metadata: { finalizers: [...(cr.metadata.finalizers ?? []), FINALIZER] } },
      cr.metadata.resourceVersion,
    )) as RedisCluster;
  } catch (err) {
    if (isConflict(err)) throw new RetryError(`adding the finalizer raced another write: ${errorMessage(err)}`, 409);
    throw err;
  }
}

/** A spec the operator cannot honour: an Event and the status say why; nothing is touched. */
async function refuseSpec(
  errors: { path: string; message: string }[],
  ref: ObjectRef,
  generation: number,
  record: RecordEvent,
  writer: StatusWriter,
): Promise<PassOutcome> {
  const message = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
  await record('InvalidSpec', message);
  await writer.write(
    computeStatus(writer.stored, {
      clusterName: ref.name,
      generation,
      blocker: { reason: 'InvalidSpec', message },
      formed: false,
      podsWanted: 0,
      podsReady: 0,
      podByEndpoint: new Map(),
      masters: 0,
      replicasPerMaster: 0,
      problems: [],
      resharding: false,
      scaling: false,
    }),
  );
  return { kind: 'done', phase: 'Failed' };
}

async function onePass(ref: ObjectRef, deps: ReconcileDeps, deadline: number): Promise<PassOutcome> {
  const { kube, log } = deps;
  const startedAt = Date.now();
  const cr = await admit(ref, deps);
  if (!('metadata' in cr)) return cr;
  const generation = cr.metadata.generation ?? 0;
  const record: RecordEvent = (reason, message) => recordEvent(deps.recorder, cr as KubernetesObject, reason, message, log);
  const writer = new StatusWriter(kube, ref, record, cr.status);

  // A spec the operator cannot honour: say so, touch nothing.
  const validated = validateSpec(cr.spec);
  if (!validated.ok) return refuseSpec(validated.errors, ref, generation, record, writer);
  const spec = validated.spec;
  const secret = await secretPassword(kube, ref.namespace, spec);
  const podsTls = podsTlsOf(spec, await listPods(kube, ref, spec));
  const tls = await secretTls(kube, ref.namespace, spec, podsTls.mounted);
  const blocker = secret.blocker ?? tls.blocker;
  const identity: ClusterIdentity = { name: ref.name, namespace: ref.namespace, uid: cr.metadata.uid ?? '' };
  // Paused: a person may be changing things by hand; not even the ConfigMap is put back.
  if (!spec.paused) await ensureObjects(kube, identity, spec, podsTls, deps.networkPolicy);
  const users = await clusterUsers(kube, identity, spec);

  const facts: PassFacts = {
    spec,
    generation,
    observedGeneration: cr.status?.observedGeneration,
    formedBefore: findCondition(cr.status?.conditions, CONDITION_TYPES.SlotsAssigned) !== undefined,
    reshard: reshardState(cr.status, generation, startedAt),
    ...(blocker ? { secretBlocker: blocker } : {}),
    ...(tls.verdict?.ok ? { tls: tls.verdict } : {}),
    // Only logged in as its own user can the operator switch the default user's password.
    ...(users && secret.password !== undefined ? { passwordHash: passwordHash(secret.password) } : {}),
    startedAt,
  };
  // Mid-transition some nodes speak TLS on their port and some do not: each Pod's layout says which.
  const protocols = new EndpointProtocols(!!spec.tls);
  const pool = new RedisPool({
    ...operatorLogin(users, secret.password),
    ...(tls.verdict?.ok ? { tls: clientTls(tls.verdict.ca), speaksTls: protocols.speaksTls, canonical: protocols.canonical } : {}),
    connectTimeoutMs: 1000,
    commandTimeoutMs: 5000,
  });
  const pass: PassState = {};
  const ctx: ActContext = {
    kube,
    pool,
    log,
    ref,
    identity,
    spec,
    generation,
    record,
    holder: deps.holder,
    source: deps.source,
    leaseDurationSeconds: deps.leaseDurationSeconds ?? 15,
    ...(deps.emit ? { emit: deps.emit } : {}),
    ...(tls.verdict?.ok ? { tlsHash: tls.verdict.hash } : {}),
    protocols,
    ...(secret.password !== undefined ? { password: secret.password } : {}),
  };
  try {
    return await rounds({ ctx, pass, facts, writer, deadline });
  } finally {
    await pass.lease?.release();
    await pool.close();
  }
}

interface Rounds {
  ctx: ActContext;
  pass: PassState;
  facts: PassFacts;
  writer: StatusWriter;
  deadline: number;
}

/** One round's steps, up to the one that ends it: the last observation, the step, what was done. */
type RoundOutcome =
  { o: Observation & { cluster: ClusterPicture }; step: RoundEnd; taken: Set<StepKind>; work: RoundWork } | { answer: PassResult };

async function round(r: Rounds, n: number): Promise<RoundOutcome> {
  const { ctx, pass, facts } = r;
  const seeing: ObserveContext = { kube: ctx.kube, pool: ctx.pool, ref: ctx.ref, holder: ctx.holder, protocols: ctx.protocols };
  const taken = new Set<StepKind>();
  const work: RoundWork = { actions: [], problems: [] };
  const memory = (): PassMemory => ({
    round: n,
    taken,
    lease: !!pass.lease,
    reshardAsked: pass.reshard ? (pass.reshard.sent ? 'early' : 'reply') : undefined,
    canEmit: !!ctx.emit,
  });
  let o = await observe(seeing, facts, memory());
  for (;;) {
    const step = decide({ ...o, pass: memory() });
    if (step.kind === 'busy') return { answer: { kind: 'busy' } };
    if ((step.kind === 'blocked' || step.kind === 'leave-to-reshard') && step.blocker && n === 0)
      await ctx.record(step.blocker.reason, step.blocker.message);
    // Left to the reshard, the pass writes no status: the reshard function reports progress, and
    // slot ranges that change with every move would make each write trigger the next pass.
    if (step.kind === 'leave-to-reshard')
      return { answer: { kind: 'done', ...(r.writer.stored?.phase ? { phase: r.writer.stored.phase } : {}) } };
    if (endsRound(step)) return { o: o as Observation & { cluster: ClusterPicture }, step, taken, work };
    const outcome = await act(ctx, pass, step, work);
    if (outcome === 'busy') return { answer: { kind: 'busy' } };
    taken.add(step.kind);
    if (outcome === 'look-again') o = await observe(seeing, facts, memory());
  }
}

/** The Warning for masters the rolling update cannot restart, once when the condition says so. */
async function reportStuckRoll(ctx: ActContext, stored: RedisClusterStatus | undefined, next: RedisClusterStatus, roll: RollState) {
  const reason = (status: RedisClusterStatus | undefined) => findCondition(status?.conditions, CONDITION_TYPES.RollingUpdate)?.reason;
  if (rollSettled(roll) && roll.stuck.length > 0 && reason(next) === 'ReplicaNeeded' && reason(stored) !== 'ReplicaNeeded')
    await ctx.record('RollingUpdateBlocked', stuckMessage(roll));
}

/** The AclApplied condition apply-acl found, and a Warning when what it could not apply changed. */
async function withAcl(ctx: ActContext, stored: RedisClusterStatus | undefined, acl: RoundWork['acl'], next: RedisClusterStatus) {
  if (!acl) return next;
  const before = findCondition(stored?.conditions, CONDITION_TYPES.AclApplied);
  if (acl.status === 'False' && (before?.reason !== acl.reason || before.message !== acl.message))
    await ctx.record(acl.reason as 'RuleRefused' | 'UserSecretMissing', acl.message);
  return { ...next, conditions: setCondition(next.conditions, acl) };
}

async function rounds(r: Rounds): Promise<PassOutcome> {
  const { ctx, pass, facts, writer } = r;
  // Another writer's Lease is waited out, not answered busy: the event that woke this pass would be
  // gone, and a writer that died holding it, or one finishing just now, leaves nobody to look
  // again before the resync. A live holder renews it; then the pass gives up after one duration.
  // A running reshard is not waited for: its end (reshard.completed) wakes reconcile.
  const busyUntil = facts.reshard.running ? 0 : Math.min(r.deadline, facts.startedAt + (ctx.leaseDurationSeconds + 2) * 1000);
  for (let n = 0; ; n++) {
    if (n > 0) {
      const latest = await ctx.kube.getCluster<RedisCluster>(ctx.ref);
      if (latest?.metadata.generation !== facts.generation || latest.metadata.deletionTimestamp)
        return { kind: 'spec-changed', generation: latest?.metadata.generation };
    }
    const end = await round(r, n);
    if ('answer' in end && end.answer.kind === 'busy' && Date.now() < busyUntil) {
      await sleep(500);
      continue;
    }
    if ('answer' in end) return end.answer;
    const { o, step, taken, work } = end;
    for (const a of work.actions) {
      const reason = EVENT_REASON[a.kind];
      if (reason) await ctx.record(reason, a.message);
    }
    const shape = shapeOf(o, o.cluster);
    const resharding = facts.reshard.running || facts.reshard.requested || taken.has('request-reshard');
    const roll = rollState(o, o.cluster, shape, restartHash(facts.spec));
    const next = await withAcl(ctx, writer.stored, work.acl, roundStatus(writer.stored, o, shape, work, resharding, ctx.ref.name, roll));
    await reportStuckRoll(ctx, writer.stored, next, roll);
    const claim =
      pass.reshard && requestedCondition(next.conditions ?? [], (pass.reshard.event.data as { reason: string }).reason, facts.generation);
    // Every round that changes what a person would read writes it; an unchanged status is not written.
    await writer.write(next, claim);
    const settled = next.phase === 'Ready' || step.kind === 'blocked' || step.kind === 'paused' || resharding || !pass.lease;
    if (settled || Date.now() > r.deadline) {
      return pass.reshard && !pass.reshard.sent
        ? { kind: 'reshard', event: pass.reshard.event, phase: next.phase }
        : { kind: 'done', phase: next.phase };
    }
    // Not there yet (a failover under way, a Pod starting): look again shortly, within the budget.
    if (n % 10 === 0)
      ctx.log.info(
        { round: n, phase: next.phase, reason: findCondition(next.conditions, CONDITION_TYPES.Ready)?.message },
        'not converged yet',
      );
    // Pods that just started become ready within a second or two: look sooner for them.
    const podsStarting = shape.wanted.some((p) => !p.ready) && Date.now() - facts.startedAt < 10_000;
    await sleep(podsStarting ? 250 : 1000);
    await pass.lease?.renew().catch(() => undefined);
  }
}
