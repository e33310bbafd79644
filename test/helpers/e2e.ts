// End-to-end helpers: the embedded platform on free ports, RedisClusters applied and awaited, an
// ioredis Cluster client to one, kubectl run as a person would, and a look at the redis-server
// processes the kubelet runs. Generic: any test of the operator on the platform can use them.
import type { ConnectionOptions } from 'node:tls';
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { parse } from 'yaml';
import { afterAll, beforeAll } from 'vitest';
import { REPO_ROOT, startPlatform, type Platform, type PlatformOptions } from '../../local/platform.js';
import type { KubeObject } from '../../local/apiserver/client.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const RC_API_VERSION = 'redis.redis/v1beta1';
export const RC_KIND = 'RedisCluster';
/** The virtual nodes' addresses (see local/scheduler defaultNodes). */
export const NODE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

export interface E2E {
  platform: Platform;
  stateDir: string;
  /** Runs kubectl against the platform's API server with an empty kubeconfig of its own. */
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  getCluster(namespace: string, name: string): Promise<KubeObject | undefined>;
  /** `keep`: leave the Pods' data and the functions' logs in stateDir, as E2E_KEEP_STATE=1 does. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

export interface E2EOptions extends Partial<PlatformOptions> {
  /** Namespaces to create up front. */
  namespaces?: string[];
}

/** The platform on free ports with fast resync and a short idle window, unless told otherwise. */
export async function startE2E(opts: E2EOptions = {}): Promise<E2E> {
  const stateDir = mkdtempSync(join(tmpdir(), 'redis-operator-e2e-'));
  const platform = await startPlatform({
    apiPort: 0,
    brokerPort: 0,
    servingPort: 0,
    stateDir,
    pingIntervalMs: 10_000,
    idleWindowMs: 120_000,
    // A cluster IP of its own, where npm start's LoadBalancer would take 127.0.0.1:9090, which two
    // platforms on one machine cannot share.
    operator: { values: { 'redisOperator.service.type': 'ClusterIP' } },
    // E2E_LOG_FILE=<path> keeps the platform's log for a failing run.
    ...(process.env.E2E_LOG_FILE
      ? { log: (m: string) => appendFileSync(process.env.E2E_LOG_FILE!, `${new Date().toISOString()} ${m}\n`) }
      : {}),
    ...opts,
  });
  for (const ns of opts.namespaces ?? []) {
    await platform.kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  }
  const kubeconfigDir = mkdtempSync(join(tmpdir(), 'kubectl-'));
  const kubeconfig = join(kubeconfigDir, 'config');
  writeFileSync(kubeconfig, '');
  const kubectl = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        '/usr/bin/kubectl',
        ['--server', platform.urls.api, '--cache-dir', join(kubeconfigDir, 'cache'), ...args],
        { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: kubeconfigDir }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin!.end(input);
    });
  return {
    platform,
    stateDir,
    kubectl,
    getCluster: (namespace, name) => platform.kube.get(RC_API_VERSION, RC_KIND, name, namespace),
    async stop(opts = {}) {
      await platform.stop();
      rmSync(kubeconfigDir, { recursive: true, force: true });
      // E2E_KEEP_STATE=1 keeps Pod data and function logs for a look after the run.
      if (!opts.keep && process.env.E2E_KEEP_STATE !== '1') rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/**
 * The platform for one test file: started in beforeAll (then `setup`, if given), stopped in
 * afterAll. The handle stands for the started platform and may be used in any test or hook.
 */
export function useE2E(opts: E2EOptions = {}, setup?: (e2e: E2E) => Promise<void>, timeoutMs = 120_000): E2E {
  let started: E2E | undefined;
  const current = () => {
    if (!started) throw new Error('the e2e platform is not started: useE2E starts it in beforeAll');
    return started;
  };
  beforeAll(async () => {
    started = await startE2E(opts);
    await setup?.(started);
  }, timeoutMs);
  afterAll(async () => {
    await started?.stop();
  });
  return {
    get platform() {
      return current().platform;
    },
    get stateDir() {
      return current().stateDir;
    },
    kubectl: (args, input) => current().kubectl(args, input),
    getCluster: (namespace, name) => current().getCluster(namespace, name),
    stop: () => current().stop(),
  };
}

/** Polls until `check` returns something other than undefined/false; throws naming `what` on timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(intervalMs);
  }
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

const CLAIM_DIR = join(tmpdir(), 'redis-operator-e2e-ports');
/** A node's port, its second port while TLS is turned on or off, its exporter's and its bus's. */
const PORT_OFFSETS = [0, 1000, 5000, 10000];
const myClaims = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims the 10-port blocks a range touches (node, exporter and bus ports) for this process, across
 * processes: test files running in parallel otherwise both see a range free while the first one's
 * Pods have yet to start, and a file would reuse the ports of a cluster it deleted. A claim whose
 * process is gone is taken over. False when any block is held by a live process (or by this one).
 */
function claimRange(base: number, count: number): boolean {
  mkdirSync(CLAIM_DIR, { recursive: true });
  const blocks = new Set<number>();
  for (const offset of PORT_OFFSETS) {
    for (let b = Math.floor((base + offset) / 10); b <= Math.floor((base + offset + count - 1) / 10); b++) blocks.add(b);
  }
  const taken: string[] = [];
  const release = () => {
    for (const f of taken) {
      rmSync(f, { force: true });
      myClaims.delete(f);
    }
  };
  for (const b of blocks) {
    const file = join(CLAIM_DIR, String(b));
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(file, 'utf8'));
      } catch {
        // released meanwhile: free
      }
      if (holder === process.pid || (Number.isInteger(holder) && holder > 0 && alive(holder))) {
        release();
        return false;
      }
      writeFileSync(file, String(process.pid));
    }
    taken.push(file);
    myClaims.add(file);
  }
  return true;
}

process.once('exit', () => {
  for (const f of myClaims) rmSync(f, { force: true });
});

/**
 * A basePort whose `count` node ports, their bus ports (+10000), exporter ports (+5000) and second
 * ports (+1000) are free
 * on every virtual node and claimed by no other live test process (nor earlier by this one), kept
 * below 55535 so the bus ports stay valid.
 */
export async function freeBasePort(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 2500) * 10;
    if (!claimRange(base, count)) continue;
    let ok = true;
    for (let i = 0; i < count && ok; i++) {
      for (const offset of PORT_OFFSETS) {
        for (const host of NODE_ADDRESSES) if (!(await canListen(host, base + i + offset))) ok = false;
      }
    }
    if (ok) return base;
  }
  throw new Error(`no free range of ${count} ports found`);
}

/** The example manifest (examples/rediscluster.yaml), with overrides merged into its spec. */
export function exampleCluster(overrides: { name?: string; namespace?: string; spec?: Record<string, unknown> } = {}): KubeObject {
  const obj = parse(readFileSync(join(REPO_ROOT, 'examples', 'rediscluster.yaml'), 'utf8')) as KubeObject;
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      ...(overrides.name ? { name: overrides.name } : {}),
      ...(overrides.namespace ? { namespace: overrides.namespace } : {}),
    },
    spec: { ...obj.spec, ...overrides.spec },
  };
}

export interface ClusterStatusView {
  phase?: string;
  observedGeneration?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  nodes?: { id: string; pod: string; ip: string; port: number; role: string; masterId?: string; slots?: string[] }[];
  readyMasters?: number;
  readyReplicas?: number;
}

export function condition(obj: KubeObject | undefined, type: string) {
  return (obj?.status as ClusterStatusView | undefined)?.conditions?.find((c) => c.type === type);
}

/**
 * Waits until the cluster's status is Ready for its current generation, with `nodes` nodes listed
 * (all of them, when given); returns the object.
 */
export async function waitForReady(e2e: E2E, namespace: string, name: string, timeoutMs = 120_000, nodes?: number): Promise<KubeObject> {
  return eventually(
    `RedisCluster ${namespace}/${name} to be Ready`,
    async () => {
      const obj = await e2e.getCluster(namespace, name);
      const status = obj?.status as ClusterStatusView | undefined;
      if (!obj || status?.phase !== 'Ready' || condition(obj, 'Ready')?.status !== 'True') return undefined;
      if (status.observedGeneration !== obj.metadata?.generation) return undefined;
      if (nodes !== undefined && status.nodes?.length !== nodes) return undefined;
      return obj;
    },
    timeoutMs,
    500,
  );
}

export interface ApplyClusterOptions {
  name?: string;
  namespace?: string;
  /** Merged into the example's spec; clusterNodeTimeout defaults to 2000 and basePort to a free range. */
  spec?: Record<string, unknown>;
  /** How many ports to reserve from basePort (default: the cluster's node count, masters x (1 + replicas), plus one). */
  ports?: number;
  /** How long to wait for Ready (default 150 s). */
  timeoutMs?: number;
  /** Waits for the cluster in place of waitForReady with every node listed. */
  ready?: () => Promise<KubeObject>;
}

export interface AppliedCluster {
  /** The RedisCluster once Ready. */
  ready: KubeObject;
  basePort: number;
  /** What `kubectl apply` said. */
  applied: { code: number; stdout: string; stderr: string };
}

/**
 * Applies the example cluster with `opts` through kubectl, as a person would, and waits until it is
 * Ready with all its nodes; throws with kubectl's message when the apply fails.
 */
export async function applyCluster(e2e: E2E, opts: ApplyClusterOptions = {}): Promise<AppliedCluster> {
  const manifest = exampleCluster({ name: opts.name, namespace: opts.namespace, spec: { clusterNodeTimeout: 2000, ...opts.spec } });
  const spec = manifest.spec as { masters: number; replicas: number; basePort: number };
  const nodes = spec.masters * (1 + spec.replicas);
  // One port more than the nodes: a rolling update of a 1+1 cluster adds a Pod per shard first.
  const basePort = (opts.spec?.basePort as number | undefined) ?? (await freeBasePort(opts.ports ?? nodes + 1));
  spec.basePort = basePort;
  const namespace = manifest.metadata!.namespace!;
  const name = manifest.metadata!.name!;
  const applied = await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
  if (applied.code !== 0) throw new Error(`kubectl apply of RedisCluster ${namespace}/${name} exited ${applied.code}: ${applied.stderr}`);
  const ready = opts.ready ? await opts.ready() : await waitForReady(e2e, namespace, name, opts.timeoutMs ?? 150_000, nodes);
  return { ready, basePort, applied };
}

/** The node addresses of a cluster from its status. */
export function statusNodes(obj: KubeObject): NonNullable<ClusterStatusView['nodes']> {
  return (obj.status as ClusterStatusView).nodes ?? [];
}

/** An ioredis Cluster client seeded with every node of the status; quits with `.quit()`. */
export function clusterClient(obj: KubeObject, password?: string, tls?: ConnectionOptions): Cluster {
  const seeds = statusNodes(obj).map((n) => ({ host: n.ip, port: n.port }));
  return new Cluster(seeds, {
    redisOptions: { ...(password ? { password } : {}), ...(tls ? { tls } : {}), connectTimeout: 2000 },
    clusterRetryStrategy: (times) => (times > 60 ? null : 250),
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    retryDelayOnTryAgain: 300,
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
  });
}

/**
 * Runs `fn` with a cluster client of `obj` and closes the client however `fn` ends, so a failed
 * assertion leaves no client retrying against nodes a later test may stop or reuse.
 */
export async function withClusterClient<T>(obj: KubeObject, fn: (client: Cluster) => Promise<T>, password?: string): Promise<T> {
  const client = clusterClient(obj, password);
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Runs `fn` with a connection to one node, closed however `fn` ends. It never reconnects, and a
 * refused handshake (a password the node wants: NOAUTH on HELLO) rejects `connect()` instead of
 * also surfacing as an unhandled error event.
 */
export async function withNode<T>(
  node: { ip: string; port: number },
  fn: (r: Redis) => Promise<T>,
  opts: { password?: string; connectTimeoutMs?: number; tls?: ConnectionOptions } = {},
): Promise<T> {
  const r = new Redis({
    host: node.ip,
    port: node.port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    ...(opts.password ? { password: opts.password } : {}),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** Writes `count` keys `prefix:i` = `v:i` through the cluster client. */
export async function writeKeys(client: Cluster, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => client.set(`${prefix}:${i + j}`, `v:${i + j}`)));
  }
}

/** How many of the keys written by writeKeys read back with their value. */
export async function countKeys(client: Cluster, prefix: string, count: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < count; i += 100) {
    const values = await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => client.get(`${prefix}:${i + j}`)));
    values.forEach((v, j) => {
      if (v === `v:${i + j}`) ok++;
    });
  }
  return ok;
}

export interface RedisProcess {
  pid: number;
  ip: string;
  port: number;
}

/**
 * The redis-server processes listening on one of `ports` (any virtual node), from the process table:
 * redis-server titles itself `redis-server <ip>:<port> [cluster]`.
 */
export async function redisServers(ports: number[]): Promise<RedisProcess[]> {
  const out = await new Promise<string>((resolve) => execFile('ps', ['-eo', 'pid=,args='], (_e, stdout) => resolve(stdout)));
  const wanted = new Set(ports);
  const found: RedisProcess[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+\S*redis-server\s+([\d.]+):(\d+)/.exec(line);
    if (!m || !wanted.has(Number(m[3]))) continue;
    found.push({ pid: Number(m[1]), ip: m[2]!, port: Number(m[3]) });
  }
  return found;
}

/** The Pods of a cluster, by its selector. */
export async function clusterPods(e2e: E2E, namespace: string, name: string): Promise<KubeObject[]> {
  const list = await e2e.platform.kube.list('v1', 'Pod', namespace, `app.kubernetes.io/name=redis-cluster,redis.redis/cluster=${name}`);
  return list.items;
}

export function podIsReady(pod: KubeObject): boolean {
  const conditions = (pod.status?.conditions ?? []) as { type: string; status: string }[];
  return pod.status?.phase === 'Running' && conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Posts a CloudEvent (binary mode) straight to a function's service URL; returns the status. */
export async function postEvent(
  url: string,
  event: { type: string; source: string; id: string; data: unknown; extensions?: Record<string, string> },
): Promise<{ status: number; headers: Headers; body: string }> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-type': event.type,
    'ce-source': event.source,
    'ce-id': event.id,
  };
  for (const [k, v] of Object.entries(event.extensions ?? {})) headers[`ce-${k}`] = v;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(event.data) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}
