// The discovery function: where a cluster's nodes are, in the reference's format
// (GET /cluster/nodes) and as a richer view (GET /cluster/topology). Answers come from a short-lived,
// single-flight cache of one live CLUSTER NODES read, or from the RedisCluster status when no node
// answers. It writes nothing.
import type { Router, Request, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ParsedUrlQuery } from 'node:querystring';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { DEFAULTS } from '../../shared/api/fields.js';
import { GROUP, KIND, PLURAL, VERSION } from '../../shared/api/names.js';
import type { NodeStatus } from '../../shared/api/status.js';
import { isNotFound, Kube } from '../../shared/kube/client.js';
import { podEndpoints, readPassword } from '../../shared/kube/nodes.js';
import { RedisPool } from '../../shared/redis/connection.js';
import type { Endpoint, NodeReport } from '../../shared/redis/types.js';
import { createFunctionHost, type BaseConfig, type FunctionHost } from '../../shared/runtime/index.js';
import { SingleFlightCache } from './cache.js';
import { firstAnswer } from './hedge.js';
import { parseClusterQuery, QueryError, type ClusterQuery } from './query.js';
import { ifNoneMatchHits, RenderedViews, represent } from './representation.js';
import { nodesAnswer, topologyAnswer, type ClusterSnapshot } from './view.js';
import { errorMessage } from '../../shared/errors.js';

export interface DiscoveryOptions {
  /** The API client, or a factory called on first use (so a start without a kubeconfig still serves /healthz). */
  kube?: Kube | (() => Kube);
  /** How long an answer is reused. Default 1000 ms. */
  cacheTtlMs?: number;
  /** TCP connect timeout per node. Default 500 ms. */
  connectTimeoutMs?: number;
  /** Timeout of the CLUSTER NODES read. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Time spent trying nodes before answering from the status. Default 3000 ms. */
  liveBudgetMs?: number;
  /** How long one node may stay silent before the next is asked beside it. Default 150 ms. */
  hedgeMs?: number;
}

export type Resolution =
  | { kind: 'found'; snapshot: ClusterSnapshot }
  | { kind: 'not-found'; message: string }
  | { kind: 'ambiguous'; namespaces: string[] };

export interface Discovery {
  /** Mounts GET /cluster/nodes and GET /cluster/topology. */
  routes(router: Router, host: FunctionHost): void;
  /** The cached answer for a query (what both endpoints serve). */
  resolve(query: ClusterQuery): Promise<Resolution>;
  readonly cache: SingleFlightCache<Resolution>;
  /** Closes the Redis connections. */
  close(): Promise<void>;
}

/** The parts of a RedisCluster object discovery reads; anything else is ignored. */
interface ClusterObject {
  metadata?: { name?: string; namespace?: string };
  spec?: { masters?: unknown; replicas?: unknown; basePort?: unknown; passwordSecret?: { name?: unknown; key?: unknown } };
  status?: { phase?: unknown; nodes?: unknown };
}

const MAX_POOLS = 100;

function wholeNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** status.nodes entries that carry an address; a malformed entry is skipped, not fatal. */
function statusNodesOf(cluster: ClusterObject): NodeStatus[] {
  const nodes = cluster.status?.nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes.filter(
    (n): n is NodeStatus =>
      !!n && typeof n === 'object' && typeof n.ip === 'string' && typeof n.port === 'number' && (n.role === 'master' || n.role === 'replica') && typeof n.id === 'string',
  );
}

function endpointText(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/** A JSON answer as express's res.json writes it, without its ETag (the 200s carry their own). */
function writeJson(res: ServerResponse, code: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json) }).end(json);
}

export function createDiscovery(opts: DiscoveryOptions = {}): Discovery {
  const ttlMs = opts.cacheTtlMs ?? 1000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 500;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 2000;
  const liveBudgetMs = opts.liveBudgetMs ?? 3000;
  const hedgeMs = opts.hedgeMs ?? 150;
  const cache = new SingleFlightCache<Resolution>({ ttlMs });
  let kube: Kube | undefined = opts.kube instanceof Kube ? opts.kube : undefined;
  const kubeClient = (): Kube => (kube ??= typeof opts.kube === 'function' ? opts.kube() : new Kube());

  // One pool per cluster (each has its own password), and the node that answered last, tried first.
  const pools = new Map<string, { password: string | undefined; pool: RedisPool }>();
  const lastObserver = new Map<string, string>();
  let log: Logger | undefined;
  let reads: Counter<'source'> | undefined;

  function poolFor(key: string, password: string | undefined): RedisPool {
    const current = pools.get(key);
    if (current && current.password === password) return current.pool;
    if (current) void current.pool.close();
    pools.delete(key);
    if (pools.size >= MAX_POOLS) {
      const [oldest] = pools.keys();
      if (oldest !== undefined) {
        void pools.get(oldest)?.pool.close();
        pools.delete(oldest);
      }
    }
    const pool = new RedisPool({ ...(password !== undefined ? { password } : {}), connectTimeoutMs, commandTimeoutMs });
    pools.set(key, { password, pool });
    return pool;
  }

  async function findClusters(query: ClusterQuery): Promise<ClusterObject[]> {
    const k = kubeClient();
    if (query.namespace) {
      const one = await k.getCluster<ClusterObject>({ namespace: query.namespace, name: query.clusterName });
      return one ? [one] : [];
    }
    try {
      const list = (await k.custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        fieldSelector: `metadata.name=${query.clusterName}`,
      })) as { items?: ClusterObject[] };
      // The selector narrows the list; the name is checked again in case a server ignores it.
      return (list.items ?? []).filter((c) => c.metadata?.name === query.clusterName);
    } catch (err) {
      // 404 on the list: the RedisCluster resource itself is not installed.
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  async function passwordOf(cluster: ClusterObject, namespace: string): Promise<{ password?: string; problem?: string }> {
    const ref = cluster.spec?.passwordSecret;
    if (!ref || typeof ref.name !== 'string') return {};
    const key = typeof ref.key === 'string' ? ref.key : DEFAULTS.passwordKey;
    try {
      return { password: await readPassword(kubeClient(), namespace, { name: ref.name, key }) };
    } catch (err) {
      return { problem: errorMessage(err) };
    }
  }

  async function snapshotOf(cluster: ClusterObject, namespace: string, name: string): Promise<ClusterSnapshot> {
    const key = `${namespace}/${name}`;
    const statusNodes = statusNodesOf(cluster);
    const unreachable: ClusterSnapshot['unreachable'] = [];
    const secret = await passwordOf(cluster, namespace);
    const pool = poolFor(key, secret.password);
    const deadline = Date.now() + liveBudgetMs;
    const tried = new Set<string>();

    const tryAll = async (candidates: Endpoint[]): Promise<NodeReport | undefined> => {
      const preferred = lastObserver.get(key);
      const fresh = candidates.filter((e) => !tried.has(endpointText(e)));
      for (const e of fresh) tried.add(endpointText(e));
      const ordered = fresh.sort((a, b) => Number(endpointText(b) === preferred) - Number(endpointText(a) === preferred));
      const { answer, failures } = await firstAnswer(ordered, (endpoint) => pool.readReport(endpoint), { hedgeMs, deadline });
      for (const f of failures) unreachable.push({ ...f.candidate, error: secret.problem ? `${f.error}; ${secret.problem}` : f.error });
      if (answer) lastObserver.set(key, endpointText(answer.candidate));
      return answer?.value;
    };

    let report = await tryAll(statusNodes.map((n) => ({ ip: n.ip, port: n.port })));
    // The status may be stale or empty (Pods recreated at new addresses, cluster still forming).
    if (!report && Date.now() <= deadline) {
      const fromPods = await podEndpoints(kubeClient(), namespace, name, wholeNumber(cluster.spec?.basePort) ?? DEFAULTS.basePort).catch((err: unknown) => {
        log?.warn({ cluster: key, err: errorMessage(err) }, 'cannot list the cluster\'s Pods');
        return [];
      });
      report = await tryAll(fromPods);
    }

    const source = report ? 'live' : 'status';
    reads?.inc({ source });
    if (!report && (statusNodes.length > 0 || unreachable.length > 0)) {
      log?.warn({ cluster: key, unreachable }, 'no node of the cluster answered: answering from its status');
    }
    const masters = wholeNumber(cluster.spec?.masters);
    const replicas = wholeNumber(cluster.spec?.replicas);
    return {
      name,
      namespace,
      source,
      observedAt: new Date().toISOString(),
      ...(report ? { report } : {}),
      statusNodes,
      unreachable,
      ...(typeof cluster.status?.phase === 'string' ? { phase: cluster.status.phase } : {}),
      ...(masters !== undefined ? { masters } : {}),
      ...(replicas !== undefined ? { replicas } : {}),
    };
  }

  async function load(query: ClusterQuery): Promise<Resolution> {
    const found = await findClusters(query);
    if (found.length === 0) {
      const where = query.namespace ? `in namespace "${query.namespace}"` : 'in any namespace';
      return { kind: 'not-found', message: `${KIND} "${query.clusterName}" not found ${where}` };
    }
    if (found.length > 1) {
      return { kind: 'ambiguous', namespaces: found.map((c) => c.metadata?.namespace ?? '').sort() };
    }
    const cluster = found[0]!;
    const namespace = cluster.metadata?.namespace ?? query.namespace ?? 'default';
    return { kind: 'found', snapshot: await snapshotOf(cluster, namespace, query.clusterName) };
  }

  const resolve = (query: ClusterQuery): Promise<Resolution> =>
    cache.get(`${query.namespace ?? '*'}/${query.clusterName}`, () => load(query));

  // A cache refresh replaces the snapshot object, so each view is rendered once per read.
  const rendered = new RenderedViews<ClusterSnapshot>();

  function routes(router: Router, host: FunctionHost): void {
    log = host.log;
    const requests = new Counter({
      name: 'discovery_requests_total',
      help: 'Discovery requests, by endpoint and HTTP status',
      labelNames: ['endpoint', 'code'] as const,
      registers: [host.registry],
    });
    new Counter({
      name: 'discovery_cache_lookups_total',
      help: 'Answer cache lookups: hit (a stored answer), joined (waited for a read under way), load (started a read)',
      labelNames: ['result'] as const,
      registers: [host.registry],
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, cache.stats.hits);
        this.inc({ result: 'joined' }, cache.stats.joined);
        this.inc({ result: 'load' }, cache.stats.loads);
      },
    });
    reads = new Counter({
      name: 'discovery_cluster_reads_total',
      help: 'Cluster reads behind the answer cache, by source (live: a node answered; status: none did)',
      labelNames: ['source'] as const,
      registers: [host.registry],
    });

    const serve = (endpoint: 'nodes' | 'topology') => async (req: IncomingMessage, res: ServerResponse, rawQuery: ParsedUrlQuery) => {
      const answer = (code: number, body: unknown) => {
        requests.inc({ endpoint, code: String(code) });
        writeJson(res, code, body);
      };
      let query: ClusterQuery;
      try {
        query = parseClusterQuery(rawQuery, endpoint === 'nodes');
      } catch (err) {
        if (err instanceof QueryError) return answer(400, { message: err.message });
        throw err;
      }
      let resolution: Resolution;
      try {
        resolution = await resolve(query);
      } catch (err) {
        host.log.warn({ clusterName: query.clusterName, namespace: query.namespace, err: errorMessage(err) }, 'cluster lookup failed');
        return answer(503, { message: `cannot look up ${KIND} "${query.clusterName}": ${errorMessage(err)}` });
      }
      switch (resolution.kind) {
        case 'not-found':
          return answer(404, { message: resolution.message });
        case 'ambiguous':
          return answer(409, {
            message: `${KIND} "${query.clusterName}" exists in several namespaces (${resolution.namespaces.join(', ')}); add namespace=<one of them>`,
            namespaces: resolution.namespaces,
          });
        case 'found': {
          const { snapshot } = resolution;
          const { body, etag } = rendered.get(snapshot, endpoint === 'nodes' ? `nodes:${query.role ?? ''}` : 'topology', () =>
            represent(endpoint === 'nodes' ? nodesAnswer(snapshot, query.role) : topologyAnswer(snapshot), snapshot.source),
          );
          // The answer changes with the topology: clients may keep it but must revalidate it.
          const headers = { ETag: etag, 'Cache-Control': 'no-cache', 'X-Discovery-Source': snapshot.source };
          const notModified = ifNoneMatchHits(req.headers['if-none-match'], etag);
          requests.inc({ endpoint, code: notModified ? '304' : '200' });
          if (notModified) return void res.writeHead(304, headers).end();
          res.writeHead(200, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length }).end(body);
        }
      }
    };

    // The listener answers these paths ahead of express; the router's copies serve the app alone
    // and the paths express matches loosely (a trailing slash, another case).
    for (const endpoint of ['nodes', 'topology'] as const) {
      const handler = serve(endpoint);
      host.direct(`/cluster/${endpoint}`, handler);
      router.get(`/cluster/${endpoint}`, (req: Request, res: Response) => handler(req, res, req.query as ParsedUrlQuery));
    }
    // Everything else under /cluster/ gets a JSON answer too, never express's HTML page.
    router.all(['/cluster/nodes', '/cluster/topology'], (req, res) => {
      res.setHeader('Allow', 'GET, HEAD');
      res.status(405).json({ message: `${req.method} is not allowed on ${req.path}; use GET` });
    });
    router.use('/cluster', (req, res) => {
      res.status(404).json({ message: `no endpoint ${req.originalUrl.split('?')[0]}; discovery serves GET /cluster/nodes and GET /cluster/topology` });
    });
  }

  return {
    routes,
    resolve,
    cache,
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((p) => p.pool.close()));
    },
  };
}

export interface DiscoveryHostOptions extends DiscoveryOptions {
  config?: Partial<BaseConfig>;
  logger?: Logger;
}

/** The discovery function's host: health, metrics and the two endpoints. */
export function createDiscoveryHost(opts: DiscoveryHostOptions = {}): { host: FunctionHost; discovery: Discovery } {
  const { config, logger, ...discoveryOptions } = opts;
  const discovery = createDiscovery(discoveryOptions);
  const host = createFunctionHost({
    name: 'discovery',
    routes: discovery.routes,
    ...(config ? { config } : {}),
    ...(logger ? { logger } : {}),
  });
  return { host, discovery };
}
