// A host's shutdown: it counts the requests under way, takes no new work once draining, and closes
// its server only when they have answered or the grace period is over.
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ListeningHost } from './host.js';

export interface Shutdown {
  /** True from the first close() on. */
  readonly draining: boolean;
  /** Aborted when draining starts. */
  readonly signal: AbortSignal;
  /** Counts a request until it has answered, so close() can wait for the ones under way. */
  track(res: ServerResponse): void;
  /** `track` as express middleware. */
  countRequests(req: Request, res: Response, next: NextFunction): void;
  /** Listens; the close() it hands back drains this server. */
  listen(serve: RequestListener, port: number, hostname: string): Promise<ListeningHost>;
}

export function createShutdown(name: string, log: Logger, graceMs: number): Shutdown {
  let draining = false;
  const aborter = new AbortController();
  let inFlight = 0;
  const idleWaiters = new Set<() => void>();

  function track(res: ServerResponse): void {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) for (const wake of idleWaiters) wake();
    });
    if (draining) res.setHeader('Connection', 'close');
  }

  function drainServer(server: Server): Promise<void> {
    return new Promise<void>((resolve) => {
      draining = true;
      aborter.abort();
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
  }

  return {
    get draining() {
      return draining;
    },
    signal: aborter.signal,
    track,
    countRequests(_req, res, next) {
      track(res);
      next();
    },
    listen(serve, port, hostname) {
      const server: Server = createServer(serve);
      // Knative bounds a request's time itself (timeoutSeconds); a handler may legitimately run long.
      server.requestTimeout = 0;
      let closing: Promise<void> | undefined;
      const close = () => (closing ??= drainServer(server));
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
    },
  };
}
