// Probe bookkeeping as Kubernetes defines it: pure functions of the probe spec, the results so far
// and the clock. Running a probe (I/O) lives in probe-run.ts.
import type { V1Probe } from '@kubernetes/client-node';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

function positive(value: number | undefined, fallback: number, field: string, min = 1): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < min) throw new Error(`probe ${field} must be an integer >= ${min}, got ${value}`);
  return value;
}

/** Kubernetes defaults: delay 0 s, period 10 s, timeout 1 s, success 1, failure 3. */
export function probeTiming(probe: V1Probe, kind: ProbeKind): ProbeTiming {
  const successThreshold = positive(probe.successThreshold, 1, 'successThreshold');
  if (kind !== 'readiness' && successThreshold !== 1) throw new Error(`${kind} probe successThreshold must be 1, got ${successThreshold}`);
  return {
    initialDelayMs: positive(probe.initialDelaySeconds, 0, 'initialDelaySeconds', 0) * 1000,
    periodMs: positive(probe.periodSeconds, 10, 'periodSeconds') * 1000,
    timeoutMs: positive(probe.timeoutSeconds, 1, 'timeoutSeconds') * 1000,
    successThreshold,
    failureThreshold: positive(probe.failureThreshold, 3, 'failureThreshold'),
  };
}

export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ProbeState {
  /** The result the kubelet acts on (after the thresholds). */
  result: ProbeResult;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  nextAt: number;
  lastMessage?: string;
}

/**
 * Before its first verdict a readiness probe counts as failing (not Ready), a liveness probe as
 * passing (no kill), a startup probe as unknown (not started).
 */
export function initialProbeState(kind: ProbeKind, timing: ProbeTiming, containerStartedAt: number): ProbeState {
  const result: ProbeResult = kind === 'readiness' ? 'failure' : kind === 'liveness' ? 'success' : 'unknown';
  return { result, consecutiveSuccesses: 0, consecutiveFailures: 0, nextAt: containerStartedAt + timing.initialDelayMs };
}

export const probeDue = (state: ProbeState, now: number): boolean => now >= state.nextAt;

/** One probe outcome; the verdict flips only after successThreshold / failureThreshold in a row. */
export function recordProbe(state: ProbeState, ok: boolean, timing: ProbeTiming, now: number, message?: string): ProbeState {
  const consecutiveSuccesses = ok ? state.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = ok ? 0 : state.consecutiveFailures + 1;
  let result = state.result;
  if (ok && consecutiveSuccesses >= timing.successThreshold) result = 'success';
  if (!ok && consecutiveFailures >= timing.failureThreshold) result = 'failure';
  return { result, consecutiveSuccesses, consecutiveFailures, nextAt: now + timing.periodMs, lastMessage: ok ? undefined : message };
}
