// The function host: one express app per function that takes CloudEvents on POST /, dispatches
// them by type to the function's handlers, and answers only once the handler has finished.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQueryString, type ParsedUrlQuery } from 'node:querystring';
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ClusterRef, EventType } from '../events/catalog.js';
import { isEventType } from '../events/catalog.js';
import {
  clusterOf,
  EventDataError,
  parseEvent,
  UnknownEventTypeError,
  type ParsedEvent,
  type TypedEvent,
} from '../events/codec.js';
import { createEmitter, type Emitter } from '../events/emitter.js';
import { baseConfigSchema, loadConfig, type BaseConfig } from './config.js';
import { createHostMetrics, type Outcome } from './metrics.js';
import { ReceiveError, receiveCloudEvent } from './receive.js';

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

/** A hot GET route's handler, given the query parsed as express parses it. */
export type DirectHandler = (req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => void | Promise<void>;

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
  return Object.keys(handlers).map((k) => (k.endsWith('.') ? `${k}*` : k)).join(', ');
}

function sendError(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

/** Whether a direct route took the request: GET or HEAD of its exact path. */
function directDispatcher(
  routes: ReadonlyMap<string, DirectHandler>,
  track: (res: ServerResponse) => void,
  log: Logger,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const internalError = JSON.stringify({ error: 'internal error' });
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const handler = routes.get(q < 0 ? url : url.slice(0, q));
    if (!handler) return false;
    track(res);
    // As the app's error handler answers what a handler throws.
    const failed = (err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' }).end(internalError);
    };
    try {
      void Promise.resolve(handler(req, res, parseQueryString(q < 0 ? '' : url.slice(q + 1)))).catch(failed);
    } catch (err) {
      failed(err);
    }
    return true;
  };
}

export function createFunctionHost(options: FunctionHostOptions): FunctionHost {
  const { name, handlers } = options;
  if (!name) throw new Error('createFunctionHost: name is required');
  const config: BaseConfig = { ...loadConfig(baseConfigSchema, process.env), ...options.config };
  const log =
    options.logger ??
    pino({
      name,
      level: config.LOG_LEVEL,
      base: { function: name, ...(config.K_REVISION ? { revision: config.K_REVISION } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    });
  const metrics = createHostMetrics(name);
  const emitter = config.K_SINK ? createEmitter({ sink: config.K_SINK }) : undefined;
  const source = functionSource(name);
  const graceMs = options.shutdownGraceMs ?? 25_000;

  let shuttingDown = false;
  const draining = new AbortController();
  let inFlight = 0;
  const idleWaiters = new Set<() => void>();

  // Counts every request, so shutdown can wait for the ones under way.
  const track = (res: ServerResponse) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) for (const wake of idleWaiters) wake();
    });
    if (shuttingDown) res.setHeader('Connection', 'close');
  };

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    track(res);
    next();
  });

  const directRoutes = new Map<string, DirectHandler>();
  const serveDirect = directDispatcher(directRoutes, track, log);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    res.status(shuttingDown ? 503 : 200).json({ ready: !shuttingDown });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const host: FunctionHost = {
    name,
    app,
    config,
    log,
    registry: metrics.registry,
    ...(emitter ? { emitter } : {}),
    get shuttingDown() {
      return shuttingDown;
    },
    direct(path, handler) {
      directRoutes.set(path, handler);
    },
    listen,
  };

  if (options.router) app.use(options.router);
  if (options.routes) {
    const router = express.Router();
    options.routes(router, host);
    app.use(router);
  }

  if (handlers) {
    const rejected = (res: Response, status: number, message: string, type: string) => {
      metrics.events.inc({ type, outcome: 'rejected' });
      log.warn({ status, eventType: type }, `event rejected: ${message}`);
      sendError(res, status, message);
    };

    app.post(
      '/',
      (req, res, next) => {
        // Before reading the body: a draining instance takes no new work; Knative retries 503.
        if (shuttingDown) return sendError(res, 503, `${name} is shutting down`);
        next();
      },
      express.text({ type: () => true, limit: config.MAX_BODY_BYTES }),
      async (req: Request, res: Response) => {
        const started = process.hrtime.bigint();
        const body = typeof req.body === 'string' ? req.body : '';
        let parsed: ParsedEvent;
        try {
          parsed = parseEvent(receiveCloudEvent(req.headers, body));
        } catch (err) {
          const headerType = req.header('ce-type');
          const type = headerType && isEventType(headerType) ? headerType : 'unknown';
          if (err instanceof ReceiveError) return rejected(res, err.status, err.message, type);
          if (err instanceof UnknownEventTypeError) return rejected(res, 400, err.message, 'unknown');
          if (err instanceof EventDataError) return rejected(res, 400, `invalid event: ${err.message}`, err.type);
          throw err;
        }

        const cluster = clusterOf(parsed);
        const eventLog = log.child({
          eventId: parsed.id,
          eventType: parsed.type,
          eventSource: parsed.source,
          ...(cluster ? { cluster: `${cluster.namespace}/${cluster.name}` } : {}),
        });
        const handler = findHandler(handlers, parsed.type);
        if (!handler) {
          return rejected(res, 400, `${name} has no handler for event type ${parsed.type}; it handles ${handledTypes(handlers)}`, parsed.type);
        }

        let outcome: Outcome;
        let status: number;
        try {
          const result = await handler(parsed, {
            log: eventLog,
            ...(cluster ? { cluster } : {}),
            source,
            config,
            ...(emitter ? { emitter } : {}),
            shutdown: draining.signal,
          });
          if (shuttingDown) res.setHeader('Connection', 'close');
          switch (result.kind) {
            case 'ack':
              outcome = 'ack';
              status = 202;
              res.status(202).end();
              break;
            case 'reply': {
              const event = result.event instanceof CloudEvent ? result.event : new CloudEvent(result.event);
              event.validate();
              const message = HTTP.binary(event);
              outcome = 'reply';
              status = 200;
              for (const [k, v] of Object.entries(message.headers)) if (v !== undefined) res.setHeader(k, v);
              res.status(200).send(message.body === undefined ? '' : String(message.body));
              eventLog.debug({ replyType: event.type, replyId: event.id }, 'replied');
              break;
            }
            case 'retry':
              outcome = 'retry';
              status = result.status ?? 500;
              sendError(res, status, result.message);
              break;
            case 'poison':
              outcome = 'poison';
              status = 400;
              sendError(res, 400, result.message);
              break;
          }
        } catch (err) {
          outcome = 'error';
          status = 500;
          eventLog.error({ err }, 'handler failed');
          if (!res.headersSent) sendError(res, 500, `${name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.events.inc({ type: parsed.type, outcome });
        metrics.duration.observe({ type: parsed.type, outcome }, seconds);
        const level = outcome === 'error' ? 'error' : outcome === 'ack' || outcome === 'reply' ? 'info' : 'warn';
        eventLog[level]({ outcome, status, durationMs: Math.round(seconds * 1000) }, `event ${outcome}`);
      },
    );
  }

  // Body-parser failures (too large, bad charset) and anything thrown outside a handler.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string; length?: number; limit?: number };
    const type = req.header('ce-type');
    const label = type && isEventType(type) ? type : 'unknown';
    if (e.type === 'entity.too.large') {
      metrics.events.inc({ type: label, outcome: 'rejected' });
      return sendError(res, 413, `request body${e.length ? ` of ${e.length} bytes` : ''} exceeds the limit of ${config.MAX_BODY_BYTES} bytes (MAX_BODY_BYTES)`);
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      metrics.events.inc({ type: label, outcome: 'rejected' });
      return sendError(res, e.status, e.message ?? 'bad request');
    }
    log.error({ err }, 'request failed');
    if (!res.headersSent) sendError(res, 500, 'internal error');
  });

  function listen(port = config.PORT, hostname = '0.0.0.0'): Promise<ListeningHost> {
    const server: Server = createServer((req, res) => {
      if (!serveDirect(req, res)) void app(req, res);
    });
    // Knative bounds a request's time itself (timeoutSeconds); a handler may legitimately run long.
    server.requestTimeout = 0;
    let closing: Promise<void> | undefined;

    const close = () => {
      closing ??= new Promise<void>((resolve) => {
        shuttingDown = true;
        draining.abort();
        log.info({ inFlight }, 'shutting down: draining in-flight requests');
        const timer = setTimeout(() => {
          log.warn({ inFlight }, `grace period of ${graceMs} ms over: closing connections`);
          server.closeAllConnections();
        }, graceMs);
        timer.unref();
        const closeIdle = () => setImmediate(() => server.closeIdleConnections());
        idleWaiters.add(closeIdle);
        server.close(() => {
          clearTimeout(timer);
          idleWaiters.delete(closeIdle);
          log.info('stopped');
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    };

    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, hostname, () => {
        server.off('error', reject);
        const actual = (server.address() as AddressInfo).port;
        const shown = hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname;
        log.info({ port: actual }, `${name} listening`);
        resolve({ url: `http://${shown}:${actual}`, port: actual, close });
      });
    });
  }

  return host;
}
