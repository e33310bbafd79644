// The dead-letter function: the sink of the Broker's and Triggers' `delivery.deadLetterSink`. It
// takes events of any type (the host's typed handlers only take the catalog's types, so POST / is
// served here), logs each with Knative's error extensions, counts it, and keeps the last ones for
// GET /dead-letters.
import express, { type Request, type Response, type Router } from 'express';
import type { CloudEventV1 } from 'cloudevents';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import {
  createFunctionHost,
  ReceiveError,
  receiveCloudEvent,
  type BaseConfig,
  type FunctionHost,
  type RequestHeaders,
} from '../../shared/runtime/index.js';
import { DeadLetterStore, type DeadLetter, type DeadLetterError } from './store.js';

export interface DeadLetterOptions {
  /** How many dead letters GET /dead-letters keeps. Default 100. */
  keep?: number;
  /** Data larger than this (as JSON) is kept as its first bytes only. Default 8192. */
  maxDataBytes?: number;
}

const CORE_ATTRIBUTES = new Set([
  'id',
  'source',
  'type',
  'specversion',
  'subject',
  'time',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
]);
const ERROR_EXTENSIONS = ['knativeerrorcode', 'knativeerrordest', 'knativeerrordata'] as const;
/** Distinct `type` label values before further types count as "other": senders choose types. */
const MAX_TYPE_LABELS = 50;

function header(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Binary mode with data that is not JSON: the shared receiver takes JSON data only, but a dead
 * letter may carry anything, so its attributes are read from the ce-* headers and the body is kept as text.
 */
function binaryWithAnyData(headers: RequestHeaders, body: string): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) {
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && k.toLowerCase().startsWith('ce-')) attributes[k.toLowerCase().slice(3)] = value;
  }
  const missing = ['id', 'source', 'type', 'specversion'].filter((k) => !attributes[k]);
  if (missing.length)
    throw new ReceiveError(
      400,
      `missing required CloudEvent attribute${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (binary mode: headers ${missing.map((k) => `ce-${k}`).join(', ')})`,
    );
  const contentType = header(headers, 'content-type');
  if (contentType) attributes.datacontenttype = contentType;
  if (body) attributes.data = body;
  return attributes;
}

function decodeErrorData(value: string): string {
  const decoded = Buffer.from(value, 'base64');
  // Not base64 after all (a sender other than Knative): keep what was sent.
  return decoded.length === 0 && value.length > 0 ? value : decoded.toString('utf8');
}

/** The record of one dead letter. Pure. */
export function toDeadLetter(event: Record<string, unknown>, receivedAt: Date, maxDataBytes = 8192): DeadLetter {
  const text = (k: string) => (event[k] === undefined || event[k] === null ? undefined : String(event[k]));
  const error: DeadLetterError = {};
  const code = Number(text('knativeerrorcode'));
  if (text('knativeerrorcode') !== undefined && Number.isInteger(code)) error.code = code;
  const destination = text('knativeerrordest');
  if (destination) error.destination = destination;
  const errorData = text('knativeerrordata');
  if (errorData) error.data = decodeErrorData(errorData);
  const extensions: Record<string, string> = {};
  for (const [k, v] of Object.entries(event)) {
    if (CORE_ATTRIBUTES.has(k) || (ERROR_EXTENSIONS as readonly string[]).includes(k) || v === undefined) continue;
    extensions[k] = String(v);
  }
  const letter: DeadLetter = {
    receivedAt: receivedAt.toISOString(),
    id: text('id') ?? '',
    source: text('source') ?? '',
    type: text('type') ?? '',
    specversion: text('specversion') ?? '',
    ...(text('subject') ? { subject: text('subject')! } : {}),
    ...(text('time') ? { time: text('time')! } : {}),
    ...(text('datacontenttype') ? { datacontenttype: text('datacontenttype')! } : {}),
    error,
    extensions,
  };
  const data = event.data ?? event.data_base64;
  if (data !== undefined) {
    const serialized = typeof data === 'string' ? data : (JSON.stringify(data) ?? String(data));
    const bytes = Buffer.byteLength(serialized);
    if (bytes <= maxDataBytes) letter.data = data;
    else letter.dataTruncated = { bytes, head: Buffer.from(serialized).subarray(0, maxDataBytes).toString('utf8') };
  }
  return letter;
}

export interface DeadLetterFunction {
  routes(router: Router, host: FunctionHost): void;
  readonly store: DeadLetterStore;
}

export function createDeadLetterFunction(opts: DeadLetterOptions = {}): DeadLetterFunction {
  const store = new DeadLetterStore(opts.keep ?? 100);
  const maxDataBytes = opts.maxDataBytes ?? 8192;

  function routes(router: Router, host: FunctionHost): void {
    const log: Logger = host.log;
    const counted = new Counter({
      name: 'dead_letters_total',
      help: 'Dead-lettered CloudEvents received, by event type and the HTTP status of the failed delivery (knativeerrorcode)',
      labelNames: ['type', 'code'] as const,
      registers: [host.registry],
    });
    const typeLabels = new Set<string>();
    const typeLabel = (type: string) => {
      if (typeLabels.has(type)) return type;
      if (typeLabels.size >= MAX_TYPE_LABELS) return 'other';
      typeLabels.add(type);
      return type;
    };

    const reject = (res: Response, status: number, message: string) => {
      log.warn({ status }, `dead letter rejected: ${message}`);
      res.status(status).json({ error: message });
    };

    router.post(
      '/',
      (_req, res, next) => {
        if (host.shuttingDown) return reject(res, 503, 'dead-letter is shutting down');
        next();
      },
      express.text({ type: () => true, limit: host.config.MAX_BODY_BYTES }),
      (req: Request, res: Response) => {
        const body = typeof req.body === 'string' ? req.body : '';
        let event: Record<string, unknown>;
        try {
          event = receiveCloudEvent(req.headers, body) as CloudEventV1<unknown> as unknown as Record<string, unknown>;
        } catch (err) {
          if (!(err instanceof ReceiveError)) throw err;
          const binary = Object.keys(req.headers).some((k) => k.toLowerCase().startsWith('ce-'));
          if (err.status !== 415 || !binary) return reject(res, err.status, err.message);
          try {
            event = binaryWithAnyData(req.headers, body);
          } catch (inner) {
            if (inner instanceof ReceiveError) return reject(res, inner.status, inner.message);
            throw inner;
          }
        }
        const letter = toDeadLetter(event, new Date(), maxDataBytes);
        store.add(letter);
        counted.inc({ type: typeLabel(letter.type), code: letter.error.code === undefined ? 'none' : String(letter.error.code) });
        log.warn(
          {
            eventId: letter.id,
            eventType: letter.type,
            eventSource: letter.source,
            ...(letter.subject ? { eventSubject: letter.subject } : {}),
            knativeerrorcode: letter.error.code,
            knativeerrordest: letter.error.destination,
            knativeerrordata: letter.error.data,
            extensions: letter.extensions,
          },
          'dead letter received',
        );
        // Accepted: an empty 202, so the Broker counts the dead letter as delivered.
        res.status(202).end();
      },
    );

    router.get('/dead-letters', (_req, res) => {
      const items = store.list();
      res.json({ total: store.total, kept: items.length, capacity: store.capacity, items });
    });
  }

  return { routes, store };
}

export interface DeadLetterHostOptions extends DeadLetterOptions {
  config?: Partial<BaseConfig>;
  logger?: Logger;
}

export function createDeadLetterHost(opts: DeadLetterHostOptions = {}): { host: FunctionHost; deadLetters: DeadLetterFunction } {
  const { config, logger, ...options } = opts;
  const deadLetters = createDeadLetterFunction(options);
  const host = createFunctionHost({
    name: 'dead-letter',
    routes: deadLetters.routes,
    ...(config ? { config } : {}),
    ...(logger ? { logger } : {}),
  });
  return { host, deadLetters };
}
