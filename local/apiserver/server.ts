// The HTTP face of the API server: Kubernetes REST paths, discovery, OpenAPI, content negotiation
// (JSON or meta.k8s.io Table), watches as newline-delimited JSON.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Access } from './access.js';
import type { FieldValidation } from './admission.js';
import { readBody } from './bodies.js';
import { listBody, selected, serveWatch, type CollectionRequest } from './collections.js';
import { ApiCore, type DeleteOptions, type WriteOptions } from './core.js';
import { ApiError, badRequest, methodNotAllowed, notFound, successStatus } from './errors.js';
import { groupVersionDocument, openApiIndex } from './openapi.js';
import { patchTypeOf } from './patch.js';
import { servePodLog } from './pod-logs.js';
import { discoveryEntry, groupVersion, type ResourceType } from './resources.js';
import type { UserInfo } from './rbac.js';
import type { Obj } from './store.js';
import { bind, evict, getScale, updateScale } from './subresources.js';
import { toTable, type IncludeObject } from './table.js';

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-local',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function sendJson(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

interface Target {
  t: ResourceType;
  namespace?: string;
  name?: string;
  sub?: string;
  watch: boolean;
}

export class ApiHttp {
  private readonly watches = new Set<ServerResponse>();

  constructor(
    private readonly core: ApiCore,
    private readonly access: Access,
    private readonly log: (msg: string) => void,
  ) {}

  /** Ends every open watch (on shutdown). */
  closeWatches(): void {
    for (const res of this.watches) res.end();
    this.watches.clear();
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof ApiError) {
        sendJson(res, err.code, err.toStatus());
        return;
      }
      this.log(`${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      sendJson(res, 500, new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).toStatus());
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const table = this.core.table;
    const user = this.access.authenticate(req);
    this.access.authorizeRequest(req, url, user);

    switch (path) {
      case '/version':
        return sendJson(res, 200, VERSION_INFO);
      case '/healthz':
      case '/livez':
      case '/readyz':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      case '/api':
        return sendJson(res, 200, {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
        });
      case '/apis':
        return sendJson(res, 200, {
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [...table.groups()].filter(([g]) => g !== '').map(([g, versions]) => this.apiGroup(g, versions)),
        });
      case '/openapi/v3':
        return sendJson(res, 200, openApiIndex(table));
      case '/openapi/v2':
        throw notFound('openapi', '', 'v2');
    }
    const segs = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (segs[0] === 'openapi' && segs[1] === 'v3') {
      const [kindSeg, a, b] = segs.slice(2);
      const doc =
        kindSeg === 'api'
          ? groupVersionDocument(table, '', a ?? '')
          : kindSeg === 'apis'
            ? groupVersionDocument(table, a ?? '', b ?? '')
            : undefined;
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return sendJson(res, 200, doc);
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) {
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 2) {
      group = segs[1]!;
      const versions = table.groups().get(group);
      if (!versions) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      if (segs.length === 2) return sendJson(res, 200, { ...this.apiGroup(group, versions), kind: 'APIGroup', apiVersion: 'v1' });
      version = segs[2]!;
      rest = segs.slice(3);
    } else {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const types = table.inGroupVersion(group, version);
    if (types.length === 0) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (rest.length === 0) {
      return sendJson(res, 200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: groupVersion(group, version),
        resources: types.flatMap(discoveryEntry),
      });
    }
    const target = this.resolve(group, version, rest);
    if (target.t.group === '' && target.t.plural === 'pods' && (await this.servePodSubresource(req, res, target, q))) return;
    if (target.t.group === '' && target.t.plural === 'serviceaccounts' && target.sub === 'token' && target.name) {
      if (req.method !== 'POST') throw methodNotAllowed();
      return sendJson(res, 201, this.access.tokenRequest(target.namespace!, target.name, (await readBody(req)) as Obj | undefined));
    }
    return this.serveResource(req, res, target, q, user);
  }

  /** pods/{name}/log, /eviction and /binding; false for anything else. */
  private async servePodSubresource(req: IncomingMessage, res: ServerResponse, target: Target, q: URLSearchParams): Promise<boolean> {
    if (target.sub === 'log' && target.name) {
      if (req.method !== 'GET') throw methodNotAllowed();
      await servePodLog(this.core, req, res, target.namespace!, target.name, q);
    } else if (target.sub === 'eviction' && target.name) {
      if (req.method !== 'POST') throw methodNotAllowed();
      evict(this.core, target.namespace!, target.name, await readBody(req));
      sendJson(res, 201, successStatus());
    } else if (target.sub === 'binding') {
      if (req.method !== 'POST') throw methodNotAllowed();
      bind(this.core, target.namespace!, target.name!, await readBody(req));
      sendJson(res, 201, successStatus());
    } else return false;
    return true;
  }

  private apiGroup(group: string, versions: string[]): Record<string, unknown> {
    const list = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: list, preferredVersion: list[0] };
  }

  private resolve(group: string, version: string, segments: string[]): Target {
    const table = this.core.table;
    let rest = segments;
    let watch = false;
    if (rest[0] === 'watch') {
      watch = true;
      rest = rest.slice(1);
    }
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const inner = table.find(group, version, rest[2]!);
      if (inner?.namespaced) return { t: inner, namespace: rest[1], name: rest[3], sub: rest[4], watch };
    }
    if (group === '' && rest[0] === 'namespaces' && rest.length >= 3 && rest[2] === 'bindings') {
      return { t: table.find('', version, 'pods')!, namespace: rest[1], sub: 'binding', watch };
    }
    const t = table.find(group, version, rest[0]!);
    if (!t) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (t.namespaced && rest.length > 1) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return { t, name: rest[1], sub: rest[2], watch };
  }

  private writeOptions(q: URLSearchParams): WriteOptions {
    const fv = q.get('fieldValidation') ?? 'Warn';
    if (!['Ignore', 'Warn', 'Strict'].includes(fv))
      throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Warn", "Strict"`);
    return { dryRun: q.getAll('dryRun').includes('All'), fieldValidation: fv as FieldValidation };
  }

  private async serveResource(
    req: IncomingMessage,
    res: ServerResponse,
    target: Target,
    q: URLSearchParams,
    user: UserInfo,
  ): Promise<void> {
    const { t, namespace, name, sub } = target;
    const core = this.core;
    const method = req.method ?? 'GET';
    const accept = String(req.headers.accept ?? '');
    const asTable = /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;

    if (name && sub && sub !== 'status' && sub !== 'scale')
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (sub === 'status' && !t.status) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (sub === 'scale' && !t.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (sub === 'binding') {
      if (method !== 'POST') throw methodNotAllowed();
      const body = (await readBody(req)) as Obj | undefined;
      bind(core, namespace!, String(body?.metadata?.name ?? ''), body);
      return sendJson(res, 201, successStatus());
    }

    if (t.review) {
      if (method !== 'POST' || name) throw methodNotAllowed();
      const review = ((await readBody(req)) ?? {}) as Obj;
      return sendJson(res, 201, {
        ...review,
        apiVersion: groupVersion(t.group, t.version),
        kind: t.kind,
        metadata: { ...(review.metadata ?? {}), creationTimestamp: null },
        status: this.access.review(t.kind, review, user),
      });
    }

    const view: CollectionRequest = { t, namespace, q, asTable, include };
    if (!name) return this.serveCollection(req, res, view, target.watch);
    if (target.watch) {
      q.set('fieldSelector', [q.get('fieldSelector'), `metadata.name=${name}`].filter(Boolean).join(','));
      return serveWatch(core, req, res, view, this.watches);
    }
    if (sub === 'scale') return this.serveScale(req, res, t, namespace, name, q);
    return this.serveObject(req, res, view, name, sub === 'status' ? 'status' : undefined);
  }

  private async serveCollection(
    req: IncomingMessage,
    res: ServerResponse,
    view: CollectionRequest,
    watchPath: boolean | undefined,
  ): Promise<void> {
    const { t, namespace, q } = view;
    const core = this.core;
    switch (req.method ?? 'GET') {
      case 'GET':
        if (watchPath || q.get('watch') === '1' || q.get('watch') === 'true') return serveWatch(core, req, res, view, this.watches);
        return sendJson(res, 200, listBody(core, view));
      case 'POST': {
        const { object, warnings } = core.create(t, namespace, await readBody(req), this.writeOptions(q));
        return sendJson(res, 201, object, warnings);
      }
      case 'DELETE': {
        const options = this.deleteOptions((await readBody(req)) as DeleteOptions | undefined, q);
        for (const o of selected(core, t, namespace, q)) {
          try {
            core.delete(t, o.metadata.namespace, o.metadata.name, options);
          } catch (err) {
            if (!(err instanceof ApiError && err.code === 404)) throw err;
          }
        }
        return sendJson(res, 200, successStatus());
      }
      default:
        throw methodNotAllowed();
    }
  }

  private async serveScale(
    req: IncomingMessage,
    res: ServerResponse,
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    q: URLSearchParams,
  ): Promise<void> {
    const core = this.core;
    switch (req.method ?? 'GET') {
      case 'GET':
        return sendJson(res, 200, getScale(core, t, namespace, name));
      case 'PUT':
        return sendJson(res, 200, updateScale(core, t, namespace, name, await readBody(req), undefined, this.writeOptions(q)));
      case 'PATCH': {
        const type = patchTypeOf(String(req.headers['content-type'] ?? ''));
        return sendJson(res, 200, updateScale(core, t, namespace, name, await readBody(req), type, this.writeOptions(q)));
      }
      default:
        throw methodNotAllowed();
    }
  }

  private async serveObject(
    req: IncomingMessage,
    res: ServerResponse,
    view: CollectionRequest,
    name: string,
    status: 'status' | undefined,
  ): Promise<void> {
    const { t, namespace, q } = view;
    const core = this.core;
    switch (req.method ?? 'GET') {
      case 'GET': {
        const o = core.get(t, namespace, name);
        if (view.asTable)
          return sendJson(res, 200, toTable(t, [o], { include: view.include, resourceVersion: o.metadata.resourceVersion }));
        return sendJson(res, 200, o);
      }
      case 'PUT': {
        const { object, warnings } = core.update(t, namespace, name, await readBody(req), status, this.writeOptions(q));
        return sendJson(res, 200, object, warnings);
      }
      case 'PATCH': {
        const type = patchTypeOf(String(req.headers['content-type'] ?? ''));
        const { object, warnings, created } = core.patch(t, namespace, name, type, await readBody(req), status, this.writeOptions(q));
        return sendJson(res, created ? 201 : 200, object, warnings);
      }
      case 'DELETE': {
        if (status) throw methodNotAllowed();
        const options = this.deleteOptions((await readBody(req)) as DeleteOptions | undefined, q);
        const { object, removed } = core.delete(t, namespace, name, options);
        return sendJson(res, removed || options.propagationPolicy !== 'Foreground' ? 200 : 202, object);
      }
      default:
        throw methodNotAllowed();
    }
  }

  private deleteOptions(body: DeleteOptions | undefined, q: URLSearchParams): DeleteOptions {
    const options: DeleteOptions = { ...(body && typeof body === 'object' ? body : {}) };
    const grace = q.get('gracePeriodSeconds');
    if (grace !== null) options.gracePeriodSeconds = Number(grace);
    const policy = q.get('propagationPolicy');
    if (policy) options.propagationPolicy = policy as DeleteOptions['propagationPolicy'];
    if (q.getAll('dryRun').includes('All')) options.dryRun = ['All'];
    if (options.gracePeriodSeconds !== undefined && (!Number.isInteger(options.gracePeriodSeconds) || options.gracePeriodSeconds < 0)) {
      throw badRequest(`gracePeriodSeconds: Invalid value: ${JSON.stringify(options.gracePeriodSeconds)}: must be a non-negative integer`);
    }
    if (options.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(options.propagationPolicy)) {
      throw badRequest(
        `propagationPolicy: Unsupported value: "${options.propagationPolicy}": supported values: "Foreground", "Background", "Orphan"`,
      );
    }
    return options;
  }
}
