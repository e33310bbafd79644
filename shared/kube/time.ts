// Kubernetes writes times as RFC 3339 with whole seconds (metav1.Time); status and annotation
// fields written by the functions follow it so they compare and print like the API server's own.

/** `2026-01-02T03:04:05Z`: the time without its milliseconds. */
export function kubeTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
