// Posting CloudEvents to the sink (K_SINK, the Broker) in binary mode. cloudevents' own transport
// resolves for every status and has no timeout, hence this one.
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmitterOptions {
  /** The sink URL (K_SINK). */
  sink: string;
  /** Per attempt. Default 10 s. */
  timeoutMs?: number;
  /** Attempts after the first one. Default 3. */
  retries?: number;
  /** First back-off delay, doubled per attempt up to maxBackoffMs. Default 200 ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface EmitResult {
  status: number;
  attempts: number;
}

export interface Emitter {
  readonly sink: string;
  send(event: CloudEventV1<unknown>): Promise<EmitResult>;
}

/** A delivery that failed for good: a non-retryable status, or retries used up. */
export class EmitError extends Error {
  constructor(
    message: string,
    readonly attempts: number,
    readonly status?: number,
    readonly body?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EmitError';
  }
}

function retryable(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

// Retry-After in seconds only; an HTTP date is rare from a Broker and not worth a parser.
function retryAfterMs(header: string | null): number | undefined {
  if (!header || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

export function createEmitter(options: EmitterOptions): Emitter {
  const { sink } = options;
  if (!sink) throw new Error('emitter: sink is required (is K_SINK set?)');
  try {
    new URL(sink);
  } catch {
    throw new Error(`emitter: sink "${sink}" is not a URL`);
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 200;
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;

  async function send(event: CloudEventV1<unknown>): Promise<EmitResult> {
    const message = HTTP.binary(event);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
    const body = message.body === undefined ? undefined : String(message.body);
    const what = `${event.type} ${event.id}`;
    let failure: string;
    for (let attempt = 1; ; attempt++) {
      let wait = Math.min(backoffMs * 2 ** (attempt - 1), maxBackoffMs);
      try {
        const response = await fetch(sink, {
          method: 'POST',
          headers,
          ...(body === undefined ? {} : { body }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        if (response.ok) return { status: response.status, attempts: attempt };
        failure = `${response.status} ${response.statusText}: ${text.slice(0, 500)}`;
        if (!retryable(response.status)) {
          throw new EmitError(`posting ${what} to ${sink} failed with ${failure}`, attempt, response.status, text);
        }
        if (attempt > retries) {
          throw new EmitError(
            `posting ${what} to ${sink} failed after ${attempt} attempts; last: ${failure}`,
            attempt,
            response.status,
            text,
          );
        }
        const hinted = retryAfterMs(response.headers.get('retry-after'));
        if (hinted !== undefined) wait = Math.min(hinted, maxBackoffMs);
      } catch (err) {
        if (err instanceof EmitError) throw err;
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        failure = timedOut ? `no answer within ${timeoutMs} ms` : `transport error: ${describe(err)}`;
        if (attempt > retries) {
          throw new EmitError(
            `posting ${what} to ${sink} failed after ${attempt} attempts; last: ${failure}`,
            attempt,
            undefined,
            undefined,
            { cause: err },
          );
        }
      }
      await sleep(wait);
    }
  }

  return { sink, send };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? ` (${err.cause.message})` : '';
  return `${err.message}${cause}`;
}
