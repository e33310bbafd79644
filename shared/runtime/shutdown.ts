// A host's shutdown: it counts the requests under way, takes no new work once draining, and closes
// its server only when they have answered or the grace period is over.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express, NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ListeningHost } from './host.js';

export interface Shutdown {
  /** True from the first close() on. */
  readonly draining: boolean;
  /** Aborted when draining starts. */
  readonly signal: AbortSignal;
  /** Middleware that counts every request, so close() can wait for the ones under way. */
  countRequests(req: Request, res: Response, next: NextFunction): void;
  /** Listens; the close() it hands back drains this server. */
  listen(app: Express, port: number, hostname: string): Promise<ListeningHost>;
}

export function createShutdown(name: string, log: Logger, graceMs: number): Shutdown {
  let draining = false;
  const aborter = new AbortController();
  let inFlight = 0;
  const idleWaiters = new Set<() => void>();

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
    countRequests(_req, res, next) {
      inFlight++;
      res.once('close', () => {
        inFlight--;
        if (inFlight === 0) for (const wake of idleWaiters) wake();
      });
      if (draining) res.setHeader('Connection', 'close');
      next();
    },
    listen(app, port, hostname) {
      const server: Server = createServer(app);
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
