/** A Kubernetes timestamp: RFC 3339 in UTC, whole seconds. */
export const timestamp = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
