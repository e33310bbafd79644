// The HorizontalPodAutoscaler's arithmetic (autoscaling/v2), as the HPA controller computes it for
// the external metrics KEDA serves: a desired count per metric, the largest of them, then the
// behavior's stabilization windows and scaling policies, then minReplicas/maxReplicas.

/** The HPA's default --horizontal-pod-autoscaler-tolerance. */
export const TOLERANCE = 0.1;

export type MetricType = 'AverageValue' | 'Value';

export interface MetricReading {
  metricType: MetricType;
  /** The metric's current value (for KEDA's external metrics: the scaler's value). */
  value: number;
  /** The target: `target.averageValue` or `target.value`. */
  threshold: number;
}

export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: 'Max' | 'Min' | 'Disabled';
  policies?: ScalingPolicy[];
}

export interface Behavior {
  scaleUp?: ScalingRules;
  scaleDown?: ScalingRules;
}

type FullRules = Required<ScalingRules>;

/** The defaults the API server fills into an HPA's behavior. */
export const DEFAULT_SCALE_UP: FullRules = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Pods', value: 4, periodSeconds: 15 },
    { type: 'Percent', value: 100, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: FullRules = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

function withDefaults(rules: ScalingRules | undefined, defaults: FullRules): FullRules {
  return {
    stabilizationWindowSeconds: rules?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: rules?.selectPolicy ?? defaults.selectPolicy,
    policies: rules?.policies?.length ? rules.policies : defaults.policies,
  };
}

/**
 * The count one metric asks for. Within the tolerance of the target the count stays: a ratio
 * close to 1 is noise, not load.
 */
export function replicasForMetric(current: number, m: MetricReading): number {
  if (m.metricType === 'Value') {
    const ratio = m.value / m.threshold;
    if (Math.abs(1 - ratio) <= TOLERANCE) return current;
    return Math.ceil(ratio * current);
  }
  const ratio = m.value / (m.threshold * current);
  if (current > 0 && Math.abs(1 - ratio) <= TOLERANCE) return current;
  return Math.ceil(m.value / m.threshold);
}

/** The HPA's memory for one target: its recent recommendations and the changes it made. */
export interface HpaState {
  recommendations: { at: number; replicas: number }[];
  scaleUpEvents: { at: number; change: number }[];
  scaleDownEvents: { at: number; change: number }[];
}

export function newHpaState(): HpaState {
  return { recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
}

/**
 * Scale up to the lowest and down to the highest recommendation of their windows, and record
 * this one. A fresh HPA starts its scale-down window with the current count, so it does not scale
 * down before a whole window of readings.
 */
export function stabilize(state: HpaState, current: number, desired: number, behavior: Behavior | undefined, now: number): number {
  const up = withDefaults(behavior?.scaleUp, DEFAULT_SCALE_UP);
  const down = withDefaults(behavior?.scaleDown, DEFAULT_SCALE_DOWN);
  if (state.recommendations.length === 0 && down.stabilizationWindowSeconds > 0) {
    state.recommendations.push({ at: now, replicas: current });
  }
  const upCutoff = now - up.stabilizationWindowSeconds * 1000;
  const downCutoff = now - down.stabilizationWindowSeconds * 1000;
  let upRecommendation = desired;
  let downRecommendation = desired;
  for (const r of state.recommendations) {
    if (r.at > upCutoff) upRecommendation = Math.min(upRecommendation, r.replicas);
    if (r.at > downCutoff) downRecommendation = Math.max(downRecommendation, r.replicas);
  }
  const oldest = Math.min(upCutoff, downCutoff);
  state.recommendations = state.recommendations.filter((r) => r.at > oldest);
  state.recommendations.push({ at: now, replicas: desired });
  return Math.min(Math.max(current, upRecommendation), downRecommendation);
}

function changedWithin(events: { at: number; change: number }[], periodSeconds: number, now: number): number {
  const cutoff = now - periodSeconds * 1000;
  return events.reduce((sum, e) => (e.at > cutoff ? sum + e.change : sum), 0);
}

/** The most replicas the scale-up policies allow now; `Max` picks the policy allowing the most. */
export function scaleUpLimit(state: HpaState, current: number, rules: FullRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let limit = rules.selectPolicy === 'Min' ? Infinity : -Infinity;
  for (const p of rules.policies) {
    const start =
      current - changedWithin(state.scaleUpEvents, p.periodSeconds, now) + changedWithin(state.scaleDownEvents, p.periodSeconds, now);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    limit = pick(limit, proposed);
  }
  return limit;
}

/** The fewest replicas the scale-down policies allow now; `Max` picks the policy removing the most. */
export function scaleDownLimit(state: HpaState, current: number, rules: FullRules, now: number): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let limit = rules.selectPolicy === 'Min' ? -Infinity : Infinity;
  for (const p of rules.policies) {
    const start =
      current - changedWithin(state.scaleUpEvents, p.periodSeconds, now) + changedWithin(state.scaleDownEvents, p.periodSeconds, now);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    limit = pick(limit, proposed);
  }
  return limit;
}

export interface HpaInput {
  current: number;
  minReplicas: number;
  maxReplicas: number;
  behavior?: Behavior;
  /** One entry per metric: a reading, or undefined when the metric could not be read. */
  metrics: (MetricReading | undefined)[];
  now: number;
}

export interface HpaDecision {
  desired: number;
  /** The HPA's own reason words for the last step that shaped the count. */
  reason: string;
}

/** The count the metrics ask for: the largest; none when a scale-down rests on missing metrics. */
export function metricsRecommendation(current: number, metrics: (MetricReading | undefined)[]): number | undefined {
  const read = metrics.filter((m): m is MetricReading => m !== undefined);
  if (read.length === 0) return undefined;
  const largest = Math.max(...read.map((m) => replicasForMetric(current, m)));
  // The HPA still scales up on the metrics it has, but never down while some are missing.
  if (read.length < metrics.length && largest < current) return current;
  return largest;
}

/** One HPA sync: the count to write (equal to `current` when nothing changes). */
export function decide(state: HpaState, input: HpaInput): HpaDecision {
  const { current, minReplicas, maxReplicas, now } = input;
  if (current > maxReplicas) return { desired: maxReplicas, reason: 'TooManyReplicas' };
  if (current < minReplicas) return { desired: minReplicas, reason: 'TooFewReplicas' };
  const recommended = metricsRecommendation(current, input.metrics);
  if (recommended === undefined) return { desired: current, reason: 'FailedGetExternalMetric' };
  const stabilized = stabilize(state, current, recommended, input.behavior, now);
  let reason = stabilized === recommended ? 'ReadyForNewScale' : recommended > stabilized ? 'ScaleUpStabilized' : 'ScaleDownStabilized';
  if (stabilized > current) {
    const limit = Math.max(current, scaleUpLimit(state, current, withDefaults(input.behavior?.scaleUp, DEFAULT_SCALE_UP), now));
    const allowed = Math.min(maxReplicas, limit);
    if (stabilized > allowed) return { desired: allowed, reason: limit < maxReplicas ? 'ScaleUpLimit' : 'TooManyReplicas' };
    reason = 'SucceededRescale';
  } else if (stabilized < current) {
    const limit = Math.min(current, scaleDownLimit(state, current, withDefaults(input.behavior?.scaleDown, DEFAULT_SCALE_DOWN), now));
    const allowed = Math.max(minReplicas, limit);
    if (stabilized < allowed) return { desired: allowed, reason: limit > minReplicas ? 'ScaleDownLimit' : 'TooFewReplicas' };
    reason = 'SucceededRescale';
  }
  return { desired: stabilized, reason };
}

/** Remember a change the HPA made, for the policies' periods; older events than any period go. */
export function recordScale(state: HpaState, from: number, to: number, behavior: Behavior | undefined, now: number): void {
  const longest = (rules: FullRules): number => Math.max(...rules.policies.map((p) => p.periodSeconds)) * 1000;
  const upCutoff = now - longest(withDefaults(behavior?.scaleUp, DEFAULT_SCALE_UP));
  const downCutoff = now - longest(withDefaults(behavior?.scaleDown, DEFAULT_SCALE_DOWN));
  state.scaleUpEvents = state.scaleUpEvents.filter((e) => e.at > upCutoff);
  state.scaleDownEvents = state.scaleDownEvents.filter((e) => e.at > downCutoff);
  if (to > from) state.scaleUpEvents.push({ at: now, change: to - from });
  if (to < from) state.scaleDownEvents.push({ at: now, change: from - to });
}
