// Status conditions as the Knative controllers write them, for what eventing and serving report.

/** A Knative-style Ready condition. */
export function readyCondition(ok: boolean, reason?: string, message?: string, type = 'Ready'): Record<string, string> {
  return {
    type,
    status: ok ? 'True' : 'False',
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    lastTransitionTime: new Date().toISOString(),
  };
}

/** Same status, ignoring transition times, so a controller's own status writes do not loop. */
export function sameStatus(a: unknown, b: unknown): boolean {
  const strip = (s: unknown): string => JSON.stringify(s ?? {}, (k, v) => (k === 'lastTransitionTime' ? undefined : v));
  return strip(a) === strip(b);
}
