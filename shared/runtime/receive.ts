// Turning an HTTP request (headers + raw body) into a validated CloudEvent, or a status and a
// message saying what is wrong with it. No I/O here.
import { HTTP, ValidationError, type CloudEventV1 } from 'cloudevents';

export class ReceiveError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'ReceiveError';
  }
}

export type RequestHeaders = Record<string, string | string[] | undefined>;

const REQUIRED = ['id', 'source', 'type', 'specversion'] as const;

function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

const isJsonMedia = (media: string) => media === 'application/json' || media.endsWith('+json') || media === 'text/json';

function parseJson(body: string, what: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new ReceiveError(400, `malformed JSON in ${what}: ${(err as Error).message}`);
  }
}

// The cloudevents SDK takes only string or object data and says so without naming the field.
function checkData(data: unknown): void {
  if (typeof data === 'number' || typeof data === 'boolean') {
    throw new ReceiveError(400, `data: a JSON ${typeof data} is not supported; event data must be a JSON object, array or string`);
  }
}

function missing(names: readonly string[], how: string): ReceiveError {
  return new ReceiveError(400, `missing required CloudEvent attribute${names.length > 1 ? 's' : ''} ${names.join(', ')} (${how})`);
}

function validationMessage(err: unknown): string {
  if (!(err instanceof ValidationError)) return err instanceof Error ? err.message : String(err);
  const details = (err.errors ?? []).map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
  return details.length ? `${err.message}: ${details.join('; ')}` : err.message;
}

/**
 * Structured mode (`application/cloudevents+json`) or binary mode (`ce-*` headers, JSON data).
 * Batch mode is refused: a function takes one event per request, so a failure retries one event.
 */
export function receiveCloudEvent(headers: RequestHeaders, body: string): CloudEventV1<unknown> {
  const media = mediaType(header(headers, 'content-type'));
  let message: { headers: Record<string, string>; body: unknown };

  if (media === 'application/cloudevents-batch+json') {
    throw new ReceiveError(400, 'batch mode is not supported: send one CloudEvent per request');
  } else if (media.startsWith('application/cloudevents')) {
    if (media !== 'application/cloudevents+json') {
      throw new ReceiveError(415, `structured mode content type ${media} is not supported; use application/cloudevents+json`);
    }
    if (!body.trim()) throw new ReceiveError(400, 'structured mode request has an empty body');
    const parsed = parseJson(body, 'the structured CloudEvent');
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ReceiveError(400, 'a structured CloudEvent must be a JSON object');
    }
    const absent = REQUIRED.filter((k) => {
      const v = (parsed as Record<string, unknown>)[k];
      return typeof v !== 'string' || v === '';
    });
    if (absent.length) throw missing(absent, 'structured mode: JSON members');
    checkData((parsed as Record<string, unknown>)['data']);
    message = { headers: { 'content-type': 'application/cloudevents+json' }, body: parsed };
  } else {
    const hasCeHeaders = Object.keys(headers).some((k) => k.toLowerCase().startsWith('ce-'));
    if (!hasCeHeaders && !isJsonMedia(media)) {
      throw new ReceiveError(
        415,
        `content type ${media || '(none)'} is not a CloudEvent: send application/cloudevents+json, or binary mode with ce-* headers and JSON data`,
      );
    }
    const absent = REQUIRED.filter((k) => !header(headers, `ce-${k}`));
    if (absent.length) throw missing(absent, `binary mode: headers ${absent.map((k) => `ce-${k}`).join(', ')}`);
    const ceHeaders: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      const value = Array.isArray(v) ? v[0] : v;
      if (value !== undefined && k.toLowerCase().startsWith('ce-')) ceHeaders[k.toLowerCase()] = value;
    }
    let data: unknown;
    if (body.trim()) {
      if (!isJsonMedia(media)) {
        throw new ReceiveError(
          415,
          `data content type ${media || '(none)'} is not supported; this function takes JSON data (application/json)`,
        );
      }
      data = parseJson(body, 'the event data');
      checkData(data);
      ceHeaders['content-type'] = 'application/json';
    }
    message = { headers: ceHeaders, body: data };
  }

  let event: CloudEventV1<unknown>;
  try {
    const decoded = HTTP.toEvent(message);
    if (Array.isArray(decoded)) throw new ReceiveError(400, 'batch mode is not supported: send one CloudEvent per request');
    event = decoded as CloudEventV1<unknown>;
    // cloudevents passes any version through; 0.3 and others differ in their attributes.
    if (event.specversion !== '1.0') throw new ReceiveError(400, `unsupported specversion "${event.specversion}"; this function takes 1.0`);
    (event as { validate(): boolean } & CloudEventV1<unknown>).validate();
  } catch (err) {
    if (err instanceof ReceiveError) throw err;
    throw new ReceiveError(400, `invalid CloudEvent: ${validationMessage(err)}`);
  }
  return event;
}
