// One polling cycle of one ScaledObject: refuse it if another writer owns the target's count,
// read every trigger, decide (KEDA's executor, then the HPA) and write the Scale and the status.
import { splitApiVersion, type KubeObject, type KubeRest } from '../apiserver/client.js';
import { decide, recordScale, type HpaState, type MetricReading } from './hpa.js';
import { queryPrometheus } from './prometheus.js';
import {
  activeCondition,
  executorReplicas,
  fallbackCondition,
  hpaMinReplicas,
  parseScaledObject,
  readyCondition,
  unknownConditions,
  type Condition,
  type PrometheusTrigger,
  type ScaledObjectSpec,
} from './scaledobject.js';

/** What the controller remembers of one ScaledObject between cycles, as KEDA and the HPA do. */
export interface ScaledObjectState {
  obj: KubeObject;
  hpa: HpaState;
  failures: Map<string, number>;
  lastActive?: number;
  originalReplicaCount?: number;
  lastStatus?: string;
}

export interface SyncContext {
  kube: KubeRest;
  log: (msg: string) => void;
  now: () => number;
  resolveUrl: (url: string, namespace: string) => Promise<string>;
  /** The other ScaledObjects the controller knows, to refuse a second one on the same target. */
  others: () => KubeObject[];
}

const CHECK_FAILED = 'ScaledObjectCheckFailed';

function sameTarget(a: KubeObject, spec: ScaledObjectSpec): boolean {
  const ref = a.spec?.scaleTargetRef ?? {};
  return (
    ref.name === spec.scaleTargetRef.name &&
    (ref.kind ?? 'Deployment') === spec.scaleTargetRef.kind &&
    splitApiVersion(ref.apiVersion ?? 'apps/v1').group === splitApiVersion(spec.scaleTargetRef.apiVersion).group
  );
}

function olderThan(a: KubeObject, b: KubeObject): boolean {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  return ta !== tb ? ta < tb : String(a.metadata?.name) < String(b.metadata?.name);
}

/** Why this ScaledObject must not write its target's count, if another writer owns it. */
async function refusal(ctx: SyncContext, obj: KubeObject, spec: ScaledObjectSpec): Promise<string | undefined> {
  const ns = obj.metadata?.namespace;
  const ref = spec.scaleTargetRef;
  const { group } = splitApiVersion(ref.apiVersion);
  const owner = ctx
    .others()
    .filter((o) => o.metadata?.namespace === ns && sameTarget(o, spec) && olderThan(o, obj))
    .sort((a, b) => (olderThan(a, b) ? -1 : 1))[0];
  if (owner) return `the workload '${ref.name}' of type '${group}/${ref.kind}' is already managed by the ScaledObject '${owner.metadata?.name}'`;
  if (group !== 'redis.redis' || ref.kind !== 'RedisCluster') return undefined;
  const cluster = await ctx.kube.get(ref.apiVersion, ref.kind, ref.name, ns);
  if (cluster?.spec?.autoscaling?.enabled !== true) return undefined;
  return (
    `RedisCluster '${ref.name}' has spec.autoscaling.enabled: true, so Alertmanager alerts (alert-bridge -> scale) ` +
    `already write its spec.masters; ScaledObject '${obj.metadata?.name}' would be a second writer of that field: ` +
    `disable one of them`
  );
}

interface TriggerResult {
  trigger: PrometheusTrigger;
  value?: number;
  error?: string;
  reading?: MetricReading;
  fallingBack: boolean;
}

async function readTrigger(ctx: SyncContext, state: ScaledObjectState, spec: ScaledObjectSpec, t: PrometheusTrigger): Promise<TriggerResult> {
  const ns = state.obj.metadata?.namespace ?? 'default';
  try {
    const value = await queryPrometheus(t, await ctx.resolveUrl(t.serverAddress, ns), new Date(ctx.now()));
    state.failures.set(t.metricName, 0);
    return { trigger: t, value, reading: { metricType: t.metricType, value, threshold: t.threshold }, fallingBack: false };
  } catch (err) {
    const failures = (state.failures.get(t.metricName) ?? 0) + 1;
    state.failures.set(t.metricName, failures);
    const error = (err as Error).message;
    const fb = spec.fallback;
    if (fb && failures > fb.failureThreshold) {
      // KEDA answers the HPA with a value that makes it ask for exactly fallback.replicas.
      const reading: MetricReading = { metricType: 'AverageValue', value: fb.replicas * t.threshold, threshold: t.threshold };
      return { trigger: t, error, reading, fallingBack: true };
    }
    return { trigger: t, error, fallingBack: false };
  }
}

function triggersReady(results: TriggerResult[]): Condition {
  const failing = results.filter((r) => r.error !== undefined);
  if (failing.length === 0) return readyCondition('True', 'ScaledObjectReady', 'ScaledObject is defined correctly and is ready for scaling');
  const why = failing.map((r) => `${r.trigger.metricName}: ${r.error}`).join('; ');
  return failing.length < results.length
    ? readyCondition('Unknown', 'PartialTriggerError', `Some triggers defined in ScaledObject are not working correctly: ${why}`)
    : readyCondition('False', 'TriggerError', `Triggers defined in ScaledObject are not working correctly: ${why}`);
}

async function targetStatus(ctx: SyncContext, spec: ScaledObjectSpec): Promise<Record<string, unknown>> {
  const ref = spec.scaleTargetRef;
  const { group, version } = splitApiVersion(ref.apiVersion);
  const { plural } = await ctx.kube.resourceFor(ref.apiVersion, ref.kind);
  return {
    scaleTargetKind: `${ref.apiVersion}.${ref.kind}`,
    scaleTargetGVKR: { group, version, kind: ref.kind, resource: plural },
    externalMetricNames: spec.triggers.map((t) => t.metricName),
  };
}

async function writeStatus(ctx: SyncContext, state: ScaledObjectState, status: Record<string, unknown>): Promise<void> {
  const text = JSON.stringify(status);
  if (text === state.lastStatus) return;
  await ctx.kube.patchStatus(state.obj, status);
  state.lastStatus = text;
}

/** KEDA's executor first, then the HPA; writes the Scale when the count changes. A refused write is the HPA's FailedUpdateScale. */
async function scaleTarget(
  ctx: SyncContext,
  state: ScaledObjectState,
  spec: ScaledObjectSpec,
  cycle: { current: number; active: boolean; results: TriggerResult[]; now: number },
): Promise<Condition | undefined> {
  const { current, active, now } = cycle;
  const { minReplicaCount, cooldownPeriod, behavior } = spec;
  const desired =
    executorReplicas({ current, active, minReplicaCount, cooldownPeriod, lastActive: state.lastActive, now }) ??
    decide(state.hpa, {
      current,
      minReplicas: hpaMinReplicas(minReplicaCount),
      maxReplicas: spec.maxReplicaCount,
      behavior,
      metrics: cycle.results.map((r) => r.reading),
      now,
    }).desired;
  if (desired === current) return undefined;
  const ref = spec.scaleTargetRef;
  const ns = state.obj.metadata?.namespace;
  try {
    await ctx.kube.patch(ref.apiVersion, ref.kind, ref.name, ns, { spec: { replicas: desired } }, { subresource: 'scale' });
  } catch (err) {
    return readyCondition('False', 'FailedUpdateScale', `the HPA controller was unable to update the target scale: ${(err as Error).message}`);
  }
  recordScale(state.hpa, current, desired, behavior, now);
  ctx.log(`${ns}/${state.obj.metadata?.name} scaled ${ref.kind} ${ref.name} from ${current} to ${desired}`);
  return undefined;
}

/** One cycle; resolves to the seconds until the next one. */
export async function syncScaledObject(ctx: SyncContext, state: ScaledObjectState): Promise<number> {
  const { obj } = state;
  const ns = obj.metadata?.namespace;
  let spec: ScaledObjectSpec;
  try {
    spec = parseScaledObject(obj);
  } catch (err) {
    await writeStatus(ctx, state, { conditions: unknownConditions(readyCondition('False', CHECK_FAILED, (err as Error).message)) });
    return obj.spec?.pollingInterval ?? 30;
  }
  const target = await targetStatus(ctx, spec);
  const refused = await refusal(ctx, obj, spec);
  if (refused) {
    await writeStatus(ctx, state, { ...target, conditions: unknownConditions(readyCondition('False', CHECK_FAILED, refused)) });
    return spec.pollingInterval;
  }
  const ref = spec.scaleTargetRef;
  let scale: KubeObject;
  try {
    scale = await ctx.kube.getSubresource(ref.apiVersion, ref.kind, ref.name, ns, 'scale');
  } catch (err) {
    const message = `ScaledObject doesn't have correct scaleTargetRef specification: ${(err as Error).message}`;
    await writeStatus(ctx, state, { ...target, conditions: unknownConditions(readyCondition('False', CHECK_FAILED, message)) });
    return spec.pollingInterval;
  }
  const current = Number(scale.spec?.replicas ?? 0);
  state.originalReplicaCount ??= current;
  const now = ctx.now();
  const results = await Promise.all(spec.triggers.map((t) => readTrigger(ctx, state, spec, t)));
  const active = results.some((r) => r.value !== undefined && r.value > r.trigger.activationThreshold);
  if (active) state.lastActive = now;
  const failedScale = await scaleTarget(ctx, state, spec, { current, active, results, now });
  const health = Object.fromEntries(
    results.map((r) => [
      r.trigger.metricName,
      { numberOfFailures: state.failures.get(r.trigger.metricName) ?? 0, status: r.error === undefined ? 'Happy' : 'Failing' },
    ]),
  );
  await writeStatus(ctx, state, {
    ...target,
    originalReplicaCount: state.originalReplicaCount,
    ...(state.lastActive !== undefined ? { lastActiveTime: new Date(state.lastActive).toISOString().replace(/\.\d+Z$/, 'Z') } : {}),
    health,
    conditions: [failedScale ?? triggersReady(results), activeCondition(active), fallbackCondition(results.some((r) => r.fallingBack))],
  });
  return spec.pollingInterval;
}
