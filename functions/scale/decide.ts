// What one alert notification does to a cluster: pure, so every rule (mapping, bounds, cooldown,
// busy, dedupe) is decided from the cluster object alone and tested without I/O.
import { createHash } from 'node:crypto';
import { kubeTime } from '../../shared/kube/time.js';
import { PHASES, resolveAlertAction, type DefaultedSpec, type RedisClusterStatus, type ScaleChange } from '../../shared/api/index.js';

/**
 * The annotation carrying the autoscaler's own record: the alert events it applied (so a redelivery
 * is recognised by any process) and when it last scaled (the cooldown). It is written in the same
 * conditional patch as the spec, so the record and the change can never disagree.
 */
export const AUTOSCALING_ANNOTATION = 'redis.redis/autoscaling';
/** How many applied alerts the record keeps; older ones cannot be redelivered any more in practice. */
export const APPLIED_KEEP = 32;

export interface AutoscalingRecord {
  /** Keys of the alert events applied, newest last. */
  applied: string[];
  lastScaleTime?: string;
}

export function parseRecord(annotations: Record<string, string> | undefined): AutoscalingRecord {
  const raw = annotations?.[AUTOSCALING_ANNOTATION];
  if (!raw) return { applied: [] };
  try {
    const parsed = JSON.parse(raw) as Partial<AutoscalingRecord>;
    return {
      applied: Array.isArray(parsed.applied) ? parsed.applied.filter((x): x is string => typeof x === 'string') : [],
      ...(typeof parsed.lastScaleTime === 'string' ? { lastScaleTime: parsed.lastScaleTime } : {}),
    };
  } catch {
    // A hand-edited, broken record: start over rather than refuse to scale for ever.
    return { applied: [] };
  }
}

/**
 * The dedupe key of an event: CloudEvents are the same delivery when source and id match. The
 * bridge gives each notification its own id, so this key tells a redelivery (same key) from
 * Alertmanager's next notification of a still-firing alert (new key, paced by the cooldown).
 */
export function alertKey(source: string, id: string): string {
  return createHash('sha256').update(`${source}\n${id}`).digest('hex').slice(0, 20);
}

export interface AlertIntent {
  key: string;
  alertname: string;
  status: 'firing' | 'resolved';
  /** The `scale_count` annotation, as sent. */
  scaleCount?: string;
}

/** What an alert event asks, as the decision reads it: its key, alertname, status and scale_count. */
export function alertIntent(event: {
  source: string;
  id: string;
  data: { status: AlertIntent['status']; labels: Record<string, string>; annotations?: Record<string, string> };
}): AlertIntent {
  const scaleCount = event.data.annotations?.['scale_count'];
  return {
    key: alertKey(event.source, event.id),
    alertname: event.data.labels['alertname'] ?? '',
    status: event.data.status,
    ...(scaleCount !== undefined ? { scaleCount } : {}),
  };
}

export interface ClusterState {
  spec: DefaultedSpec;
  status?: RedisClusterStatus;
  generation?: number;
  annotations?: Record<string, string>;
}

export type IgnoreReason =
  'Resolved' | 'Duplicate' | 'AutoscalingDisabled' | 'NoAction' | 'InvalidScaleCount' | 'Cooldown' | 'Busy' | 'AtBound';

export type ScaleDecision =
  | {
      kind: 'apply';
      target: ScaleChange['target'];
      from: number;
      to: number;
      /** What the alert asked, before the bounds. */
      requested: number;
      message: string;
      /** The patch: the new count and the updated record (one conditional write). */
      patch: { spec: Record<string, number>; metadata: { annotations: Record<string, string> } };
      record: AutoscalingRecord;
    }
  | { kind: 'ignore'; reason: IgnoreReason; message: string };

// Every phase but Ready, Degraded and Failed too: adding or draining masters while nodes are missing,
// Pods restart or the spec is refused would pile a reshard on top of a repair or a roll.
const BUSY_PHASES = new Set<string>(PHASES.filter((p) => p !== 'Ready'));

/** Why the cluster must not be scaled now, if it must not. */
export function busyReason(state: ClusterState): string | undefined {
  const { status } = state;
  if (state.spec.paused) return 'spec.paused is true: nothing changes the cluster until it is false';
  if (status?.reshard && (status.reshard.state === 'Running' || status.reshard.state === 'Planned')) {
    return `a reshard is ${status.reshard.state.toLowerCase()} (${status.reshard.slotsDone ?? 0}/${status.reshard.slotsTotal ?? '?'} slots)`;
  }
  if (status?.phase && BUSY_PHASES.has(status.phase)) return `the cluster is ${status.phase}`;
  if (state.generation !== undefined && status?.observedGeneration !== undefined && status.observedGeneration < state.generation) {
    return `the last spec change (generation ${state.generation}) is not yet acted on`;
  }
  return undefined;
}

function latest(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

export function decideScale(state: ClusterState, alert: AlertIntent, now: Date): ScaleDecision {
  const { spec } = state;
  const record = parseRecord(state.annotations);
  const ignore = (reason: IgnoreReason, message: string): ScaleDecision => ({ kind: 'ignore', reason, message });

  // The Low* alerts shrink a cluster; the end of a High* alert only stops the steps.
  if (alert.status === 'resolved') return ignore('Resolved', `alert ${alert.alertname} resolved: nothing to scale`);
  if (record.applied.includes(alert.key)) return ignore('Duplicate', `alert ${alert.alertname} (${alert.key}) was already applied`);
  if (!spec.autoscaling.enabled)
    return ignore('AutoscalingDisabled', `alert ${alert.alertname} ignored: spec.autoscaling.enabled is false`);

  let change: ScaleChange | undefined;
  try {
    change = resolveAlertAction(spec, alert.alertname, alert.scaleCount);
  } catch (err) {
    return ignore('InvalidScaleCount', `alert ${alert.alertname} ignored: ${(err as Error).message}`);
  }
  if (!change) return ignore('NoAction', `alert ${alert.alertname} has no action in spec.autoscaling.actions`);

  const lastScale = latest(state.status?.lastScaleTime, record.lastScaleTime);
  if (lastScale) {
    const until = Date.parse(lastScale) + spec.autoscaling.cooldownSeconds * 1000;
    if (now.getTime() < until) {
      return ignore(
        'Cooldown',
        `alert ${alert.alertname} ignored: last scaled at ${lastScale}, cooldown of ${spec.autoscaling.cooldownSeconds}s lasts until ${kubeTime(new Date(until))}`,
      );
    }
  }
  const busy = busyReason(state);
  if (busy) return ignore('Busy', `alert ${alert.alertname} ignored: ${busy}`);

  const [min, max] =
    change.target === 'masters'
      ? [spec.autoscaling.minMasters, spec.autoscaling.maxMasters]
      : [spec.autoscaling.minReplicas, spec.autoscaling.maxReplicas];
  const from = spec[change.target];
  const requested = from + change.change;
  const to = Math.min(max, Math.max(min, requested));
  if (to === from) {
    return ignore('AtBound', `alert ${alert.alertname} ignored: ${change.target} is ${from}, bounds ${min}..${max}`);
  }
  const next: AutoscalingRecord = {
    applied: [...record.applied, alert.key].slice(-APPLIED_KEEP),
    lastScaleTime: kubeTime(now),
  };
  const clamped = to !== requested ? ` (asked ${requested}, bounds ${min}..${max})` : '';
  return {
    kind: 'apply',
    target: change.target,
    from,
    to,
    requested,
    message: `alert ${alert.alertname}: ${change.target} ${from} -> ${to}${clamped}`,
    patch: { spec: { [change.target]: to }, metadata: { annotations: { [AUTOSCALING_ANNOTATION]: JSON.stringify(next) } } },
    record: next,
  };
}
