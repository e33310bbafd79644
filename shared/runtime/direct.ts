// Hot GET routes served straight from node's http, ahead of express: no middleware but the
// in-flight count shutdown waits for.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString, type ParsedUrlQuery } from 'node:querystring';
import type { Logger } from 'pino';

/** A hot GET route's handler, given the query parsed as express parses it. */
export type DirectHandler = (req: IncomingMessage, res: ServerResponse, query: ParsedUrlQuery) => void | Promise<void>;

/** Whether a direct route took the request: GET or HEAD of its exact path. */
export function directDispatcher(
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
