// Anything thrown, as one line for a log, an Event or a status message.

/** A Kubernetes Status body's message (with its HTTP code) for an API error, else the error's own message. */
export function errorMessage(err: unknown): string {
  if (isApiError(err)) {
    try {
      const parsed = typeof err.body === 'string' ? (JSON.parse(err.body) as { message?: string }) : (err.body as { message?: string });
      if (parsed?.message) return `${err.code}: ${parsed.message}`;
    } catch {
      // not JSON: fall through to the plain body
    }
    return `${err.code}: ${String(err.body ?? err.message)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** @kubernetes/client-node's ApiException, by shape: an HTTP status code and the answer's body. */
function isApiError(err: unknown): err is Error & { code: number; body: unknown } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'body' in err;
}
