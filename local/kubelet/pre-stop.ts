// A container's preStop hook as the kubelet runs it: before SIGTERM and inside the grace period.
// The time it takes comes out of the grace; the container still gets at least 2 s after it
// (kuberuntime's minimumGracePeriodInSeconds), and a hook that outlasts the grace is abandoned.
import type { V1LifecycleHandler } from '@kubernetes/client-node';
import { runProbe, type ProbeContext } from './probe-run.js';

export const MIN_GRACE_AFTER_HOOK_MS = 2000;

export interface PreStopOutcome {
  usedMs: number;
  /** Why the hook failed; undefined when it succeeded. */
  failure?: string;
}

async function runHandler(handler: V1LifecycleHandler, ctx: ProbeContext, graceMs: number): Promise<string | undefined> {
  if (handler.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(Math.max(0, handler.sleep!.seconds) * 1000, graceMs)));
    return undefined;
  }
  if (handler.exec || handler.httpGet) {
    const outcome = await runProbe({ exec: handler.exec, httpGet: handler.httpGet }, ctx, graceMs);
    return outcome.ok ? undefined : (outcome.message ?? 'failed');
  }
  return 'Cannot run handler: only exec, httpGet and sleep are supported';
}

export async function runPreStop(handler: V1LifecycleHandler, ctx: ProbeContext, graceMs: number): Promise<PreStopOutcome> {
  const started = Date.now();
  const failure = await runHandler(handler, ctx, graceMs);
  return { usedMs: Date.now() - started, ...(failure !== undefined ? { failure } : {}) };
}

/** The grace SIGTERM gets once the hook has used `usedMs` of `graceMs`. */
export const graceAfterHook = (graceMs: number, usedMs: number): number => Math.max(MIN_GRACE_AFTER_HOOK_MS, graceMs - usedMs);

/** The Event message kubelet gives a failed exec or HTTP hook. */
export function preStopFailureMessage(handler: V1LifecycleHandler, container: string, pod: string, failure: string): string {
  const kind = handler.exec ? `Exec lifecycle hook (${JSON.stringify(handler.exec.command ?? [])})` : 'HTTP lifecycle hook';
  return `${kind} for Container "${container}" in Pod "${pod}" failed - error: ${failure}`;
}
