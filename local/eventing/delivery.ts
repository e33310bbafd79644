// Delivery policy as Knative's DeliverySpec defines it: which responses are retried, how long to
// wait between attempts, and the ISO-8601 durations it is written in. Pure; the sending is in send.ts.

export type BackoffPolicy = 'linear' | 'exponential';

export interface DeliverySpec {
  retry?: number;
  backoffPolicy?: BackoffPolicy;
  backoffDelay?: string;
  timeout?: string;
  deadLetterSink?: { ref?: { apiVersion?: string; kind?: string; name?: string; namespace?: string }; uri?: string };
}

export interface DeliveryPolicy {
  retry: number;
  backoffPolicy: BackoffPolicy;
  backoffDelayMs: number;
  timeoutMs?: number;
}

/** ISO-8601 duration (`PT0.2S`, `PT1M30S`, `P1DT2H`) in milliseconds; weeks, months and years are refused. */
export function parseIsoDuration(text: string, field = 'duration'): number {
  const m = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text ?? '');
  if (!m || text === 'P' || text.endsWith('T'))
    throw new Error(`${field}: ${JSON.stringify(text)} is not an ISO-8601 duration such as PT0.2S`);
  const [, d, h, min, s] = m;
  const ms = (Number(d ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0)) * 1000;
  return Math.round(ms);
}

/** Default backoff when a DeliverySpec names retries but no delay. */
export const DEFAULT_BACKOFF_DELAY_MS = 200;

/** The Trigger's delivery, each field falling back to the Broker's. */
export function effectiveDelivery(trigger: DeliverySpec | undefined, broker: DeliverySpec | undefined): DeliverySpec {
  return { ...(broker ?? {}), ...Object.fromEntries(Object.entries(trigger ?? {}).filter(([, v]) => v !== undefined)) };
}

export function deliveryPolicy(spec: DeliverySpec | undefined, field = 'spec.delivery'): DeliveryPolicy {
  const retry = spec?.retry ?? 0;
  if (!Number.isInteger(retry) || retry < 0)
    throw new Error(`${field}.retry: must be a non-negative integer, got ${JSON.stringify(retry)}`);
  const policy = spec?.backoffPolicy ?? 'exponential';
  if (policy !== 'linear' && policy !== 'exponential') {
    throw new Error(`${field}.backoffPolicy: must be linear or exponential, got ${JSON.stringify(policy)}`);
  }
  return {
    retry,
    backoffPolicy: policy,
    backoffDelayMs: spec?.backoffDelay ? parseIsoDuration(spec.backoffDelay, `${field}.backoffDelay`) : DEFAULT_BACKOFF_DELAY_MS,
    timeoutMs: spec?.timeout ? parseIsoDuration(spec.timeout, `${field}.timeout`) : undefined,
  };
}

/** Wait before retry number `n` (1 = the first retry): linear delay*n, exponential delay*2^n, as Knative does. */
export function retryDelayMs(policy: Pick<DeliveryPolicy, 'backoffPolicy' | 'backoffDelayMs'>, n: number): number {
  return policy.backoffPolicy === 'linear' ? policy.backoffDelayMs * n : policy.backoffDelayMs * 2 ** n;
}

/** Transport errors (status undefined), 5xx, 404, 408, 409 and 429 are retried; other 4xx are not. */
export function isRetryable(status: number | undefined): boolean {
  if (status === undefined) return true;
  if (status >= 500) return true;
  return status === 404 || status === 408 || status === 409 || status === 429;
}
