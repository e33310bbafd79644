// KEDA's prometheus scaler: one instant query, whose single sample is the metric's value.
import type { PrometheusTrigger } from './scaledobject.js';

/** KEDA's default HTTP timeout for scalers (KEDA_HTTP_DEFAULT_TIMEOUT). */
const QUERY_TIMEOUT_MS = 3000;

type Sample = [number, string];

/** The query's value now, or an error with KEDA's wording for what went wrong. */
export async function queryPrometheus(trigger: PrometheusTrigger, serverAddress: string, now = new Date()): Promise<number> {
  const q = new URLSearchParams({ query: trigger.query, time: now.toISOString() });
  const res = await fetch(`${serverAddress}/api/v1/query?${q}`, {
    headers: { accept: 'application/json', ...trigger.customHeaders },
    signal: AbortSignal.timeout(QUERY_TIMEOUT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`prometheus query api returned error. status: ${res.status} response: ${text.trim()}`);
  const body = JSON.parse(text) as { data?: { resultType?: string; result?: unknown } };
  const data = body.data ?? {};
  let sample: Sample | undefined;
  if (data.resultType === 'scalar') {
    sample = data.result as Sample;
  } else {
    const vector = (data.result ?? []) as { value: Sample }[];
    if (vector.length > 1) throw new Error(`prometheus query ${trigger.query} returned multiple elements`);
    sample = vector[0]?.value;
  }
  if (!sample) {
    if (trigger.ignoreNullValues) return 0;
    throw new Error("prometheus metrics 'prometheus' target may be lost, the result is empty");
  }
  const value = Number(sample[1]);
  if (!Number.isFinite(value)) {
    if (trigger.ignoreNullValues) return 0;
    throw new Error(`promMetrics 'prometheus' target may be lost, the value is ${sample[1]}`);
  }
  return value;
}
