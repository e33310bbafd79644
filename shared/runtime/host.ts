// The function host: one express app per function that takes CloudEvents on POST /, dispatches
// them by type to the function's handlers, and answers only once the handler has finished.
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ClusterRef, EventType } from '../events/catalog.js';
import { isEventType } from '../events/catalog.js';
import { clusterOf, EventDataError, parseEvent, UnknownEventTypeError, type ParsedEvent, type TypedEvent } from '../events/codec.js';
import { createEmitter, type Emitter } from '../events/emitter.js';
import { baseConfigSchema, loadConfig, type BaseConfig } from './config.js';
import { createHostMetrics, type HostMetrics, type Outcome } from './metrics.js';
import { ReceiveError, receiveCloudEvent } from './receive.js';
import { directDispatcher, type DirectHandler } from './direct.js';
import { createShutdown, type Shutdown } from './shutdown.js';

export type RetryStatus = 500 | 503 | 409 | 429;

export type HandlerResult =
  | { kind: 'ack' }
  | { kind: 'reply'; event: CloudEventV1<unknown> }
  | { kind: 'retry'; status?: RetryStatus; message: string }
  | { kind: 'poison'; message: string };

export const ack = (): HandlerResult => ({ kind: 'ack' });
export const reply = (event: CloudEventV1<unknown>): HandlerResult => ({ kind: 'reply', event });
export const retry = (message: string, status?: RetryStatus): HandlerResult =>
  status === undefined ? { kind: 'retry', message } : { kind: 'retry', message, status };
export const poison = (message: string): HandlerResult => ({ kind: 'poison', message });

export interface HandlerContext {
  /** Carries the event id, type and cluster. */
  log: Logger;
  /** The cluster the event names, where it does (see clusterOf). */
  cluster?: ClusterRef;
  /** This function's CloudEvent source for the events it builds: `/redis-operator/<name>`. */
  source: string;
  config: BaseConfig;
  /** Posts events to K_SINK; absent when K_SINK is not set. */
  emitter?: Emitter;
  /**
   * Aborted when the host starts draining (SIGTERM). Advisory: the host still waits for the
   * handler, but long work can end its chunk early and answer with its progress.
   */
  shutdown: AbortSignal;
}

export type Handler<E = ParsedEvent> = (event: E, ctx: HandlerContext) => Promise<HandlerResult>;

/** By exact type, or by a prefix ending in '.' (the longest matching prefix wins). */
export type Handlers = { [T in EventType]?: Handler<TypedEvent<T>> } & {
  [prefix: `${string}.`]: Handler | undefined;
};

export interface FunctionHostOptions {
  name: string;
  /** Without handlers the host serves no POST / (a plain HTTP function). */
  handlers?: Handlers;
  /** Extra routes (plain HTTP endpoints), mounted after the health endpoints. */
  routes?: (router: Router, host: FunctionHost) => void;
  /** Or a ready-made Router, mounted the same way. */
  router?: Router;
  /** Overrides of the environment's configuration (tests). */
  config?: Partial<BaseConfig>;
  logger?: Logger;
  /** How long close() waits for in-flight requests before cutting connections. Default 25 s. */
  shutdownGraceMs?: number;
}

export interface ListeningHost {
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish and answer, then closes. */
  close(): Promise<void>;
}

export interface FunctionHost {
  readonly name: string;
  readonly app: express.Express;
  readonly config: BaseConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly emitter?: Emitter;
  readonly shuttingDown: boolean;
  /**
   * Serves GET and HEAD of exactly `path` on the listener straight from node's http, ahead of
   * express, for a route whose per-request cost matters: no middleware but the in-flight count
   * shutdown waits for. Anything else on that path (other methods, a trailing slash) still goes
   * to express, and `app` alone does not see these routes, so mount them on the router too.
   */
  direct(path: string, handler: DirectHandler): void;
  /** Listens on `port` (default: PORT). Port 0 picks a free one. */
  listen(port?: number, hostname?: string): Promise<ListeningHost>;
}

export function functionSource(name: string): string {
  return `/redis-operator/${name}`;
}

function findHandler(handlers: Handlers, type: string): Handler | undefined {
  const table = handlers as Record<string, Handler | undefined>;
  const exact = table[type];
  if (exact) return exact;
  let best: string | undefined;
  for (const key of Object.keys(table)) {
    if (key.endsWith('.') && type.startsWith(key) && table[key] && (!best || key.length > best.length)) best = key;
  }
  return best ? table[best] : undefined;
}

function handledTypes(handlers: Handlers): string {
  return Object.keys(handlers)
    .map((k) => (k.endsWith('.') ? `${k}*` : k))
    .join(', ');
}

function sendError(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

/** What the host's routes share: its name, configuration, log, metrics, emitter and shutdown. */
interface HostParts {
  name: string;
  config: BaseConfig;
  log: Logger;
  metrics: HostMetrics;
  emitter: Emitter | undefined;
  shutdown: Shutdown;
}

export function createFunctionHost(options: FunctionHostOptions): FunctionHost {
  const { name, handlers } = options;
  if (!name) throw new Error('createFunctionHost: name is required');
  const config: BaseConfig = { ...loadConfig(baseConfigSchema, process.env), ...options.config };
  const log = options.logger ?? hostLogger(name, config);
  const emitter = config.K_SINK ? createEmitter({ sink: config.K_SINK }) : undefined;
  const parts: HostParts = {
    name,
    config,
    log,
    metrics: createHostMetrics(name),
    emitter,
    shutdown: createShutdown(name, log, options.shutdownGraceMs ?? 25_000),
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(parts.shutdown.countRequests);
  mountHealth(app, parts);
  const directRoutes = new Map<string, DirectHandler>();
  const serveDirect = directDispatcher(directRoutes, parts.shutdown.track, log);
  const host: FunctionHost = {
    name,
    app,
    config,
    log,
    registry: parts.metrics.registry,
    ...(emitter ? { emitter } : {}),
    get shuttingDown() {
      return parts.shutdown.draining;
    },
    direct(path, handler) {
      directRoutes.set(path, handler);
    },
    listen: (port = config.PORT, hostname = '0.0.0.0') =>
      parts.shutdown.listen(
        (req, res) => {
          if (!serveDirect(req, res)) void app(req, res);
        },
        port,
        hostname,
      ),
  };
  mountRoutes(app, options, host);
  if (handlers) mountCloudEvents(app, handlers, parts);
  // Every answer is JSON with a message, a path no route serves too (Express's default is HTML).
  app.use((req: Request, res: Response) => sendError(res, 404, `no route for ${req.method} ${req.path}`));
  app.use(errorAnswer(parts));
  return host;
}

function hostLogger(name: string, config: BaseConfig): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    base: { function: name, ...(config.K_REVISION ? { revision: config.K_REVISION } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

function mountHealth(app: express.Express, { shutdown, metrics }: HostParts): void {
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    res.status(shutdown.draining ? 503 : 200).json({ ready: !shutdown.draining });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

function mountRoutes(app: express.Express, options: FunctionHostOptions, host: FunctionHost): void {
  if (options.router) app.use(options.router);
  if (options.routes) {
    const router = express.Router();
    options.routes(router, host);
    app.use(router);
  }
}

function mountCloudEvents(app: express.Express, handlers: Handlers, parts: HostParts): void {
  app.post(
    '/',
    (_req, res, next) => {
      // Before reading the body: a draining instance takes no new work; Knative retries 503.
      if (parts.shutdown.draining) return sendError(res, 503, `${parts.name} is shutting down`);
      next();
    },
    express.text({ type: () => true, limit: parts.config.MAX_BODY_BYTES }),
    (req: Request, res: Response) => handleEvent(req, res, handlers, parts),
  );
}

function rejectEvent(res: Response, parts: HostParts, rejection: Rejection): void {
  const { status, message, type } = rejection;
  parts.metrics.events.inc({ type, outcome: 'rejected' });
  parts.log.warn({ status, eventType: type }, `event rejected: ${message}`);
  sendError(res, status, message);
}

interface Rejection {
  status: number;
  message: string;
  /** The metrics label: the event's type where it is known, else 'unknown'. */
  type: string;
}

/** The request's CloudEvent, or why it is rejected. */
function decodeEvent(req: Request): { event: ParsedEvent } | { rejection: Rejection } {
  const body = typeof req.body === 'string' ? req.body : '';
  try {
    return { event: parseEvent(receiveCloudEvent(req.headers, body)) };
  } catch (err) {
    const headerType = req.header('ce-type');
    const type = headerType && isEventType(headerType) ? headerType : 'unknown';
    if (err instanceof ReceiveError) return { rejection: { status: err.status, message: err.message, type } };
    if (err instanceof UnknownEventTypeError) return { rejection: { status: 400, message: err.message, type: 'unknown' } };
    if (err instanceof EventDataError) return { rejection: { status: 400, message: `invalid event: ${err.message}`, type: err.type } };
    throw err;
  }
}

async function handleEvent(req: Request, res: Response, handlers: Handlers, parts: HostParts): Promise<void> {
  const { name, config, log, metrics, emitter, shutdown } = parts;
  const started = process.hrtime.bigint();
  const decoded = decodeEvent(req);
  if ('rejection' in decoded) return rejectEvent(res, parts, decoded.rejection);
  const parsed = decoded.event;

  const cluster = clusterOf(parsed);
  const eventLog = log.child({
    eventId: parsed.id,
    eventType: parsed.type,
    eventSource: parsed.source,
    ...(cluster ? { cluster: `${cluster.namespace}/${cluster.name}` } : {}),
  });
  const handler = findHandler(handlers, parsed.type);
  if (!handler) {
    const message = `${name} has no handler for event type ${parsed.type}; it handles ${handledTypes(handlers)}`;
    return rejectEvent(res, parts, { status: 400, message, type: parsed.type });
  }

  let answered: Answered;
  try {
    const result = await handler(parsed, {
      log: eventLog,
      ...(cluster ? { cluster } : {}),
      source: functionSource(name),
      config,
      ...(emitter ? { emitter } : {}),
      shutdown: shutdown.signal,
    });
    if (shutdown.draining) res.setHeader('Connection', 'close');
    answered = answer(res, result, eventLog);
  } catch (err) {
    answered = { outcome: 'error', status: 500 };
    eventLog.error({ err }, 'handler failed');
    if (!res.headersSent) sendError(res, 500, `${name} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const { outcome, status } = answered;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  metrics.events.inc({ type: parsed.type, outcome });
  metrics.duration.observe({ type: parsed.type, outcome }, seconds);
  const level = outcome === 'error' ? 'error' : outcome === 'ack' || outcome === 'reply' ? 'info' : 'warn';
  eventLog[level]({ outcome, status, durationMs: Math.round(seconds * 1000) }, `event ${outcome}`);
}

interface Answered {
  outcome: Outcome;
  status: number;
}

/** Sends the handler's result as the HTTP answer Knative expects. */
function answer(res: Response, result: HandlerResult, eventLog: Logger): Answered {
  switch (result.kind) {
    case 'ack':
      res.status(202).end();
      return { outcome: 'ack', status: 202 };
    case 'reply': {
      const event = result.event instanceof CloudEvent ? result.event : new CloudEvent(result.event);
      event.validate();
      const message = HTTP.binary(event);
      for (const [k, v] of Object.entries(message.headers)) if (v !== undefined) res.setHeader(k, v);
      res.status(200).send(message.body === undefined ? '' : String(message.body));
      eventLog.debug({ replyType: event.type, replyId: event.id }, 'replied');
      return { outcome: 'reply', status: 200 };
    }
    case 'retry': {
      const status = result.status ?? 500;
      sendError(res, status, result.message);
      return { outcome: 'retry', status };
    }
    case 'poison':
      sendError(res, 400, result.message);
      return { outcome: 'poison', status: 400 };
  }
}

/** Body-parser failures (too large, bad charset) and anything thrown outside a handler. */
function errorAnswer({ config, log, metrics }: HostParts) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string; length?: number; limit?: number };
    const type = req.header('ce-type');
    const label = type && isEventType(type) ? type : 'unknown';
    if (e.type === 'entity.too.large') {
      metrics.events.inc({ type: label, outcome: 'rejected' });
      return sendError(
        res,
        413,
        `request body${e.length ? ` of ${e.length} bytes` : ''} exceeds the limit of ${config.MAX_BODY_BYTES} bytes (MAX_BODY_BYTES)`,
      );
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      metrics.events.inc({ type: label, outcome: 'rejected' });
      return sendError(res, e.status, e.message ?? 'bad request');
    }
    log.error({ err }, 'request failed');
    if (!res.headersSent) sendError(res, 500, 'internal error');
  };
}
