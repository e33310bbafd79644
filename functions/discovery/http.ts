// The discovery endpoints on the wire: each request's query, cached lookup and answer, written
// straight to node's response. The host's listener serves them ahead of express; express serves the
// same handlers and a JSON answer for anything else under /cluster/. I/O only: answer.ts decides.
import type { Request, Response, Router } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { errorMessage } from '../../shared/errors.js';
import type { FunctionHost } from '../../shared/runtime/index.js';
import {
  badQueryAnswer,
  ENDPOINTS,
  lookupFailedAnswer,
  renderView,
  unresolvedAnswer,
  viewName,
  type EndpointName,
  type ErrorAnswer,
} from './answer.js';
import type { Resolution } from './lookup.js';
import { parseClusterQuery, QueryError, type ClusterQuery } from './query.js';
import { ifNoneMatchHits, type RenderedViews, type Representation } from './representation.js';
import type { ClusterSnapshot } from './view.js';

/** What the endpoints answer from, and where they count and log. */
export interface EndpointContext {
  resolve(query: ClusterQuery): Promise<Resolution>;
  rendered: RenderedViews<ClusterSnapshot>;
  requests: Counter<'endpoint' | 'code'>;
  log: Logger;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** An error as express's res.json writes it, without an ETag (the 200s carry their own). */
function writeError(ctx: EndpointContext, endpoint: EndpointName, res: ServerResponse, { code, body }: ErrorAnswer): void {
  ctx.requests.inc({ endpoint, code: String(code) });
  const json = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json) }).end(json);
}

// The answer changes with the topology: clients may keep it but must revalidate it.
function writeView(res: ServerResponse, { body, etag }: Representation, source: string, notModified: boolean): void {
  if (notModified) res.writeHead(304, { ETag: etag, 'Cache-Control': 'no-cache', 'X-Discovery-Source': source }).end();
  else
    res
      .writeHead(200, {
        ETag: etag,
        'Cache-Control': 'no-cache',
        'X-Discovery-Source': source,
        'Content-Type': JSON_TYPE,
        'Content-Length': body.length,
      })
      .end(body);
}

type EndpointHandler = (req: IncomingMessage, res: ServerResponse, rawQuery: ParsedUrlQuery) => Promise<void>;

function endpointHandler(endpoint: EndpointName, ctx: EndpointContext): EndpointHandler {
  return async (req, res, rawQuery) => {
    let query: ClusterQuery;
    try {
      query = parseClusterQuery(rawQuery, endpoint === 'nodes');
    } catch (err) {
      if (err instanceof QueryError) return writeError(ctx, endpoint, res, badQueryAnswer(err));
      throw err;
    }
    let resolution: Resolution;
    try {
      resolution = await ctx.resolve(query);
    } catch (err) {
      const reason = errorMessage(err);
      ctx.log.warn({ clusterName: query.clusterName, namespace: query.namespace, err: reason }, 'cluster lookup failed');
      return writeError(ctx, endpoint, res, lookupFailedAnswer(query, reason));
    }
    if (resolution.kind !== 'found') return writeError(ctx, endpoint, res, unresolvedAnswer(query, resolution));
    const { snapshot } = resolution;
    const view = ctx.rendered.get(snapshot, viewName(endpoint, query.role), () => renderView(snapshot, endpoint, query.role));
    const notModified = ifNoneMatchHits(req.headers['if-none-match'], view.etag);
    ctx.requests.inc({ endpoint, code: notModified ? '304' : '200' });
    writeView(res, view, snapshot.source, notModified);
  };
}

/** GET (and HEAD) /cluster/nodes and /cluster/topology, on the listener and on the router. */
export function mountEndpoints(router: Router, host: FunctionHost, ctx: EndpointContext): void {
  // The listener answers these paths ahead of express; the router's copies serve the app alone
  // and the paths express matches loosely (a trailing slash, another case).
  for (const endpoint of ENDPOINTS) {
    const handler = endpointHandler(endpoint, ctx);
    host.direct(`/cluster/${endpoint}`, handler);
    router.get(`/cluster/${endpoint}`, (req: Request, res: Response) => handler(req, res, req.query as ParsedUrlQuery));
  }
}

/** Everything else under /cluster/ gets a JSON answer too, never express's HTML page. */
export function mountFallbacks(router: Router): void {
  router.all(['/cluster/nodes', '/cluster/topology'], (req, res) => {
    res.setHeader('Allow', 'GET, HEAD');
    res.status(405).json({ message: `${req.method} is not allowed on ${req.path}; use GET` });
  });
  router.use('/cluster', (req, res) => {
    res
      .status(404)
      .json({ message: `no endpoint ${req.originalUrl.split('?')[0]}; discovery serves GET /cluster/nodes and GET /cluster/topology` });
  });
}
