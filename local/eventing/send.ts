// Sending one CloudEvent to an addressable the way Knative's dispatcher does: binary mode,
// `Prefer: reply`, a per-attempt timeout, retries with back-off on the retryable answers, and the
// reply (a CloudEvent in the response) handed back.
import { CloudEvent, HTTP } from 'cloudevents';
import { type DeliveryPolicy, isRetryable, retryDelayMs } from './delivery.js';
import type { EventAttributes } from './filters.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SendResult {
  ok: boolean;
  /** HTTP status; undefined for a transport error or a timeout. */
  status?: number;
  reply?: CloudEvent<unknown>;
  body: string;
  error?: string;
}

export interface DeliveryOutcome {
  result: SendResult;
  attempts: number;
}

/** Context attributes and extensions of an event, as strings (what filters look at). */
export function eventAttributes(ev: CloudEvent<unknown>): EventAttributes {
  const out: EventAttributes = {};
  for (const [k, v] of Object.entries(ev)) {
    if (k === 'data' || k === 'data_base64' || v === undefined || v === null) continue;
    if (typeof v === 'object' && !(v instanceof Date)) continue;
    out[k] = v instanceof Date ? v.toISOString() : String(v);
  }
  return out;
}

function plainHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => {
    out[k] = v;
  });
  return out;
}

/** Parses a request or response as a CloudEvent (binary or structured); throws naming the problem. */
export function parseCloudEvent(headers: Record<string, string | string[] | undefined>, body: string): CloudEvent<unknown> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const ev = HTTP.toEvent({ headers: flat, body }) as CloudEvent<unknown> | CloudEvent<unknown>[];
  if (Array.isArray(ev)) throw new Error('batched CloudEvents are not accepted');
  ev.validate();
  return ev;
}

export async function sendEvent(url: string, ev: CloudEvent<unknown>, timeoutMs?: number): Promise<SendResult> {
  const msg = HTTP.binary(ev);
  const headers: Record<string, string> = { prefer: 'reply' };
  for (const [k, v] of Object.entries(msg.headers)) if (v !== undefined) headers[k] = String(v);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: msg.body as string | undefined,
      signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
    });
  } catch (err) {
    return {
      ok: false,
      body: '',
      error: (err as Error).name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : String((err as Error).message ?? err),
    };
  }
  let body: string;
  try {
    body = await res.text();
  } catch (err) {
    return { ok: false, status: res.status, body: '', error: `reading the response: ${(err as Error).message}` };
  }
  if (res.status < 200 || res.status > 299) return { ok: false, status: res.status, body, error: `HTTP ${res.status}` };
  const hdrs = plainHeaders(res.headers);
  const looksLikeEvent = body.length > 0 || hdrs['ce-type'] !== undefined;
  if (!looksLikeEvent) return { ok: true, status: res.status, body };
  try {
    return { ok: true, status: res.status, body, reply: parseCloudEvent(hdrs, body) };
  } catch (err) {
    // A body that is not a CloudEvent is a failed delivery, as Knative treats it.
    return { ok: false, status: 502, body, error: `response is not a CloudEvent: ${(err as Error).message}` };
  }
}

/** One attempt plus up to `policy.retry` retries, spaced by the back-off, stopping at a non-retryable answer. */
export async function deliverWithRetry(
  url: string,
  ev: CloudEvent<unknown>,
  policy: DeliveryPolicy,
  isStopped: () => boolean = () => false,
): Promise<DeliveryOutcome> {
  let attempts = 0;
  for (;;) {
    attempts++;
    const result = await sendEvent(url, ev, policy.timeoutMs);
    if (result.ok || !isRetryable(result.status) || attempts > policy.retry || isStopped()) return { result, attempts };
    await sleep(retryDelayMs(policy, attempts));
  }
}

/** The event a dead-letter sink receives: Knative's error extensions added. */
export function deadLetterEvent(ev: CloudEvent<unknown>, dest: string, result: SendResult): CloudEvent<unknown> {
  const ext: Record<string, string> = { knativeerrordest: dest };
  if (result.status !== undefined) ext.knativeerrorcode = String(result.status);
  const data = result.body || result.error || '';
  if (data) ext.knativeerrordata = Buffer.from(data.slice(0, 1024)).toString('base64');
  return ev.cloneWith(ext as never, false);
}
