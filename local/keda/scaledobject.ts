// A keda.sh/v1alpha1 ScaledObject read the way KEDA's operator reads it: its defaults, the
// prometheus trigger's metadata, what KEDA itself decides around the HPA (activation, scaling to
// and from zero after cooldownPeriod), and the conditions it reports.
import type { KubeObject } from '../apiserver/client.js';
import type { Behavior, MetricType } from './hpa.js';

/** KEDA's defaults for a ScaledObject's spec. */
export const SCALED_OBJECT_DEFAULTS = { pollingInterval: 30, cooldownPeriod: 300, minReplicaCount: 0, maxReplicaCount: 100 };

export interface ScaleTargetRef {
  apiVersion: string;
  kind: string;
  name: string;
}

export interface PrometheusTrigger {
  /** The external metric's name, as KEDA names it: `s<index>-prometheus`. */
  metricName: string;
  metricType: MetricType;
  serverAddress: string;
  query: string;
  threshold: number;
  activationThreshold: number;
  /** An empty result is 0 (true, KEDA's default) or an error (false). */
  ignoreNullValues: boolean;
  customHeaders: Record<string, string>;
}

export interface ScaledObjectSpec {
  scaleTargetRef: ScaleTargetRef;
  pollingInterval: number;
  cooldownPeriod: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  behavior?: Behavior;
  fallback?: { failureThreshold: number; replicas: number };
  triggers: PrometheusTrigger[];
}

function num(v: unknown, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new Error(`${field}: ${JSON.stringify(v)} is not a number`);
  return n;
}

function parseTrigger(t: any, index: number): PrometheusTrigger {
  if (t?.type !== 'prometheus') throw new Error(`triggers[${index}]: type ${JSON.stringify(t?.type)} is not served here (only prometheus)`);
  const md = (t.metadata ?? {}) as Record<string, unknown>;
  for (const key of ['serverAddress', 'query', 'threshold']) {
    if (md[key] === undefined || md[key] === '') throw new Error(`triggers[${index}]: missing required parameter "${key}"`);
  }
  const metricType = (t.metricType ?? 'AverageValue') as MetricType;
  if (metricType !== 'AverageValue' && metricType !== 'Value') {
    throw new Error(`triggers[${index}]: metricType ${JSON.stringify(t.metricType)} is not served here (AverageValue or Value)`);
  }
  const headers: Record<string, string> = {};
  for (const pair of String(md.customHeaders ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) headers[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return {
    metricName: `s${index}-prometheus`,
    metricType,
    serverAddress: String(md.serverAddress).replace(/\/+$/, ''),
    query: String(md.query),
    threshold: num(md.threshold, `triggers[${index}].metadata.threshold`),
    activationThreshold: md.activationThreshold === undefined ? 0 : num(md.activationThreshold, `triggers[${index}].metadata.activationThreshold`),
    ignoreNullValues: String(md.ignoreNullValues ?? 'true').toLowerCase() !== 'false',
    customHeaders: headers,
  };
}

/** The spec with KEDA's defaults; throws what KEDA would refuse, in its words. */
export function parseScaledObject(obj: KubeObject): ScaledObjectSpec {
  const spec = obj.spec ?? {};
  const ref = spec.scaleTargetRef ?? {};
  if (!ref.name) throw new Error('ScaledObject doesn\'t have correct scaleTargetRef specification: "name" is required');
  const min = spec.minReplicaCount ?? SCALED_OBJECT_DEFAULTS.minReplicaCount;
  const max = spec.maxReplicaCount ?? SCALED_OBJECT_DEFAULTS.maxReplicaCount;
  if (min > max) throw new Error(`MinReplicaCount=${min} must be less than MaxReplicaCount=${max}`);
  const triggers = ((spec.triggers ?? []) as unknown[]).map(parseTrigger);
  if (triggers.length === 0) throw new Error('no triggers defined in the ScaledObject/ScaledJob');
  const fallback = spec.fallback;
  if (fallback && triggers.some((t) => t.metricType !== 'AverageValue')) {
    throw new Error('type is Value, but fallback is only supported for AverageValue metric type');
  }
  return {
    scaleTargetRef: { apiVersion: ref.apiVersion ?? 'apps/v1', kind: ref.kind ?? 'Deployment', name: ref.name },
    pollingInterval: spec.pollingInterval ?? SCALED_OBJECT_DEFAULTS.pollingInterval,
    cooldownPeriod: spec.cooldownPeriod ?? SCALED_OBJECT_DEFAULTS.cooldownPeriod,
    minReplicaCount: min,
    maxReplicaCount: max,
    behavior: spec.advanced?.horizontalPodAutoscalerConfig?.behavior,
    fallback: fallback ? { failureThreshold: fallback.failureThreshold, replicas: fallback.replicas } : undefined,
    triggers,
  };
}

export interface ExecutorInput {
  current: number;
  /** Some trigger's value is above its activationThreshold. */
  active: boolean;
  minReplicaCount: number;
  cooldownPeriod: number;
  /** When a trigger was last active (ms), if ever. */
  lastActive?: number;
  now: number;
}

/**
 * What KEDA's scale executor sets itself, around the HPA: from zero to at least one when a
 * trigger activates, to zero once every trigger has been inactive for cooldownPeriod (only with
 * minReplicaCount 0: cooldownPeriod governs nothing else), and up to minReplicaCount. Undefined
 * leaves the count to the HPA.
 */
export function executorReplicas(input: ExecutorInput): number | undefined {
  const { current, active, minReplicaCount: min } = input;
  if (current === 0) return active ? Math.max(min, 1) : min > 0 ? min : 0;
  if (!active && min === 0) {
    const idleFor = input.lastActive === undefined ? Infinity : input.now - input.lastActive;
    if (idleFor >= input.cooldownPeriod * 1000) return 0;
  }
  if (current < min) return min;
  return undefined;
}

/** The HPA KEDA creates never goes below one replica; zero is the executor's business. */
export function hpaMinReplicas(minReplicaCount: number): number {
  return Math.max(minReplicaCount, 1);
}

export interface Condition {
  type: 'Ready' | 'Active' | 'Fallback';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

export function readyCondition(status: Condition['status'], reason: string, message: string): Condition {
  return { type: 'Ready', status, reason, message };
}

export function activeCondition(active: boolean): Condition {
  return active
    ? { type: 'Active', status: 'True', reason: 'ScalerActive', message: 'Scaling is performed because triggers are active' }
    : { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed because triggers are not active' };
}

export function fallbackCondition(fallingBack: boolean): Condition {
  return fallingBack
    ? { type: 'Fallback', status: 'True', reason: 'FallbackExists', message: 'At least one trigger is falling back on this scaled object' }
    : { type: 'Fallback', status: 'False', reason: 'NoFallbackFound', message: 'No fallbacks are active on this scaled object' };
}

/** The conditions of a ScaledObject KEDA has not acted on (yet, or at all). */
export function unknownConditions(ready: Condition): Condition[] {
  return [ready, { type: 'Active', status: 'Unknown' }, { type: 'Fallback', status: 'Unknown' }];
}
