// Sending CloudEvents and raw requests to a function host over real HTTP.
import { HTTP, type CloudEventV1 } from 'cloudevents';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export async function postRaw(url: string, headers: Record<string, string>, body?: string): Promise<HttpAnswer> {
  const response = await fetch(url, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
  return { status: response.status, headers: Object.fromEntries(response.headers), text: await response.text() };
}

function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

export function postBinary(url: string, event: CloudEventV1<unknown>): Promise<HttpAnswer> {
  const message = HTTP.binary(event);
  return postRaw(url, stringHeaders(message.headers), message.body === undefined ? undefined : String(message.body));
}

export function postStructured(url: string, event: CloudEventV1<unknown>): Promise<HttpAnswer> {
  const message = HTTP.structured(event);
  return postRaw(url, stringHeaders(message.headers), String(message.body));
}

/** The `error` member of a JSON error answer. */
export function errorOf(answer: HttpAnswer): string {
  return (JSON.parse(answer.text) as { error: string }).error;
}
