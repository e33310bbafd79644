// Container restart policy and back-off, pure. Kubernetes waits 10 s after a crash, doubling to
// 5 min, and forgets past crashes once a container has run for 10 min (twice the cap). The local
// platform defaults to a 1 s base so a crashed Redis node returns quickly; both are configurable.

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, maxMs: 300_000 };

export function restartPolicyOf(value: string | undefined): RestartPolicy {
  if (value === undefined || value === 'Always') return 'Always';
  if (value === 'OnFailure' || value === 'Never') return value;
  throw new Error(`spec.restartPolicy must be Always, OnFailure or Never, got "${value}"`);
}

export function shouldRestart(policy: RestartPolicy, exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** The wait before restarting after the n-th crash in a row (n >= 1). */
export function restartDelay(consecutiveCrashes: number, policy: BackoffPolicy): number {
  const n = Math.max(1, consecutiveCrashes);
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(n - 1, 30));
}

/** Crashes in a row after one more exit: a run longer than twice the cap starts the count anew. */
export function crashesAfterExit(previousCrashes: number, ranForMs: number, policy: BackoffPolicy): number {
  return ranForMs >= 2 * policy.maxMs ? 1 : previousCrashes + 1;
}

/** Kubernetes reports a signal death as 128 + signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGTERM: 15,
  };
  return 128 + (signal ? (numbers[signal] ?? 0) : 0);
}

export function terminationReason(exitCode: number): string {
  return exitCode === 0 ? 'Completed' : 'Error';
}
