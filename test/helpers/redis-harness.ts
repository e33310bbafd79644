// Real redis-server processes in cluster mode for integration tests and the benchmark: free ports,
// one temp dir per node, and a guarantee that every process stops with the test process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { keySlot } from '../../shared/redis/executor/util.js';
import { clientTls } from '../../shared/tls/secret.js';
import type { CreatePlan, DesiredNode, Endpoint } from '../../shared/redis/types.js';

export interface HarnessOptions {
  password?: string;
  /** More redis-server arguments after the config (e.g. `--user` definitions). */
  args?: string[];
  /** Extra redis.conf directives, e.g. {'cluster-node-timeout': '2000'}. */
  config?: Record<string, string>;
  /** Loopback address to bind (127.0.0.x); default 127.0.0.1. */
  ip?: string;
  /** Where the nodes' data directories go; default /dev/shm (tmpfs) when there is one. */
  dataDir?: string;
  /** Serve TLS only (client port, bus, replication), as the operator's TLS nodes do. */
  tls?: HarnessTls;
}

export interface HarnessTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** The CA's PEM, for the harness's own clients. */
  ca: string;
}

/** redis.conf directives of a TLS-only node on `port`. */
function tlsConfig(tls: HarnessTls, port: number): Record<string, string> {
  return {
    port: '0',
    'tls-port': String(port),
    'tls-cluster': 'yes',
    'tls-replication': 'yes',
    'tls-cert-file': tls.certFile,
    'tls-key-file': tls.keyFile,
    'tls-ca-cert-file': tls.caFile,
    'tls-auth-clients': 'no',
  };
}

export interface RedisNodeProcess {
  index: number;
  ip: string;
  port: number;
  dir: string;
  pid: number | undefined;
  running: boolean;
}

export interface Harness {
  readonly nodes: RedisNodeProcess[];
  readonly endpoints: Endpoint[];
  readonly password: string | undefined;
  /** Sends a signal to node i's redis-server (default SIGKILL) and waits until it has exited. */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts node i again from its own dir (same nodes.conf), optionally on another address. */
  restart(i: number, opts?: { ip?: string; port?: number }): Promise<void>;
  desiredNodes(domains?: string[]): DesiredNode[];
  /** A standalone client to node i (caller disconnects it). */
  client(i: number): Redis;
  /** An ioredis Cluster client over all nodes, default options (caller disconnects it). */
  cluster(): Cluster;
  stop(): Promise<void>;
}

const liveProcesses = new Set<{ pid: number | undefined; dir: string; child: ChildProcess }>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = () => {
    for (const p of liveProcesses) {
      try {
        if (p.pid) process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      try {
        rmSync(p.dir, { recursive: true, force: true });
      } catch {
        // best effort on exit
      }
    }
    liveProcesses.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

function canBind(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: ip, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A random client port in 20000..45000 whose bus port (+10000) is free too. */
export async function freePortPair(ip = '127.0.0.1', exclude = new Set<number>()): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (exclude.has(port) || exclude.has(port + 10000) || exclude.has(port - 10000)) continue;
    if ((await canBind(ip, port)) && (await canBind(ip, port + 10000))) return port;
  }
  throw new Error(`no free port pair found on ${ip}`);
}

function ping(ip: string, port: number, password?: string, tls?: HarnessTls): Promise<boolean> {
  const c = new Redis({
    host: ip,
    port,
    password,
    ...(tls ? { tls: clientTls(tls.ca) } : {}),
    lazyConnect: true,
    connectTimeout: 300,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  c.on('error', () => {});
  return c
    .connect()
    .then(() => c.ping())
    .then((r) => r === 'PONG')
    .catch(() => false)
    .finally(() => c.disconnect());
}

interface Running {
  child: ChildProcess;
  pid: number | undefined;
  exited: Promise<void>;
  entry: { pid: number | undefined; dir: string; child: ChildProcess };
}

async function launch(node: RedisNodeProcess, opts: HarnessOptions): Promise<Running> {
  const conf: Record<string, string> = {
    port: String(node.port),
    bind: node.ip,
    'cluster-enabled': 'yes',
    'cluster-config-file': 'nodes.conf',
    'cluster-node-timeout': '5000',
    'cluster-announce-ip': node.ip,
    dir: node.dir,
    save: '""',
    appendonly: 'no',
    logfile: path.join(node.dir, 'redis.log'),
    'protected-mode': 'no',
    // Replicas of fresh masters sync at once instead of after the default 5 s.
    'repl-diskless-sync-delay': '0',
    ...(opts.password ? { requirepass: opts.password, masterauth: opts.password } : {}),
    ...(opts.tls ? tlsConfig(opts.tls, node.port) : {}),
    ...opts.config,
  };
  const args: string[] = [];
  for (const [k, v] of Object.entries(conf)) args.push(`--${k}`, v === '""' ? '' : v);
  args.push(...(opts.args ?? []));
  // The shell watches our stdin: if this process dies without cleaning up, the pipe closes and
  // the redis-server is killed, so no test run leaves servers behind.
  const script = 'exec 3<&0; redis-server "$@" & p=$!; echo "$p"; (cat <&3 >/dev/null; kill -9 "$p" 2>/dev/null) & wait "$p"';
  const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = await new Promise<number | undefined>((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolve(Number(line));
    });
    child.once('exit', () => resolve(undefined));
  });
  const entry = { pid, dir: node.dir, child };
  liveProcesses.add(entry);
  return { child, pid, exited, entry };
}

export async function startRedisNodes(n: number, opts: HarnessOptions = {}): Promise<Harness> {
  installExitHooks();
  const ip = opts.ip ?? '127.0.0.1';
  const base = opts.dataDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const nodes: RedisNodeProcess[] = [];
  const tlsOption = opts.tls ? { tls: clientTls(opts.tls.ca) } : {};
  const running = new Map<number, Running>();
  const used = new Set<number>();

  const startOne = async (node: RedisNodeProcess): Promise<void> => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await launch(node, opts);
      running.set(node.index, r);
      node.pid = r.pid;
      const deadline = Date.now() + 10_000;
      let exited = false;
      void r.exited.then(() => (exited = true));
      while (Date.now() < deadline && !exited) {
        if (await ping(node.ip, node.port, opts.password, opts.tls)) {
          node.running = true;
          return;
        }
        await sleep(30);
      }
      await stopProcess(node.index);
      // Another process took the port between our check and redis binding it: pick another.
      node.port = await freePortPair(node.ip, used);
      used.add(node.port);
    }
    throw new Error(`redis-server ${node.index} did not start (see ${node.dir}/redis.log)`);
  };

  const stopProcess = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const r = running.get(i);
    if (!r) return;
    try {
      if (r.pid) process.kill(r.pid, signal);
    } catch {
      // already gone
    }
    const timeout = sleep(signal === 'SIGKILL' ? 5000 : 10_000).then(() => 'timeout' as const);
    if ((await Promise.race([r.exited, timeout])) === 'timeout' && r.pid) {
      try {
        process.kill(r.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await r.exited;
    }
    r.child.stdin?.end();
    liveProcesses.delete(r.entry);
    running.delete(i);
    const node = nodes[i];
    if (node) node.running = false;
  };

  for (let i = 0; i < n; i++) {
    const port = await freePortPair(ip, used);
    used.add(port);
    nodes.push({ index: i, ip, port, dir: mkdtempSync(path.join(base, 'redis-node-')), pid: undefined, running: false });
  }
  try {
    await Promise.all(nodes.map((node) => startOne(node)));
  } catch (err) {
    await Promise.all(nodes.map((node) => stopProcess(node.index)));
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
    throw err;
  }

  const harness: Harness = {
    nodes,
    get endpoints() {
      return nodes.map((node) => ({ ip: node.ip, port: node.port }));
    },
    password: opts.password,
    async kill(i, signal = 'SIGKILL') {
      await stopProcess(i, signal);
    },
    async restart(i, o = {}) {
      const node = nodes[i];
      if (!node) throw new Error(`no node ${i}`);
      await stopProcess(i);
      if (o.ip) node.ip = o.ip;
      if (o.port) node.port = o.port;
      await startOne(node);
    },
    desiredNodes(domains) {
      return nodes.map((node) => ({
        name: `node-${node.index}`,
        ip: node.ip,
        port: node.port,
        busPort: node.port + 10000,
        domain: domains?.[node.index] ?? `host-${node.index}`,
      }));
    },
    client(i) {
      const node = nodes[i]!;
      return new Redis({ host: node.ip, port: node.port, password: opts.password, ...tlsOption });
    },
    cluster() {
      return new Cluster(
        nodes.filter((x) => x.running).map((x) => ({ host: x.ip, port: x.port })),
        { redisOptions: { password: opts.password, ...tlsOption } },
      );
    },
    async stop() {
      await Promise.all(nodes.map((node) => stopProcess(node.index)));
      for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
    },
  };
  return harness;
}

// ---- deterministic data -------------------------------------------------------------------

export function keyName(prefix: string, i: number): string {
  return `${prefix}:${i}`;
}

export function valueFor(key: string, valueBytes: number): string {
  const head = `${key}=`;
  if (head.length >= valueBytes) return head;
  return head + 'x'.repeat(valueBytes - head.length);
}

/** Groups keys by the node ioredis currently thinks serves their slot, for cluster pipelines. */
function groupByNode(cluster: Cluster, keys: string[]): string[][] {
  const slots = (cluster as unknown as { slots: string[][] }).slots;
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const owner = slots[keySlot(k)]?.[0] ?? 'unknown';
    let g = groups.get(owner);
    if (!g) groups.set(owner, (g = []));
    g.push(k);
  }
  return [...groups.values()];
}

/** Waits for the client to be ready and re-reads its slot map, so pipelines group keys right. */
async function ensureSlots(cluster: Cluster): Promise<void> {
  if (cluster.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', () => resolve());
      cluster.once('error', reject);
    });
  }
  await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
}

/** A pipeline of single-key commands; when the slot map changed under it, the keys go one by one. */
async function pipelined(
  cluster: Cluster,
  keys: string[],
  add: (p: ReturnType<Cluster['pipeline']>, k: string) => void,
  one: (k: string) => Promise<unknown>,
): Promise<[Error | null, unknown][]> {
  const p = cluster.pipeline();
  for (const k of keys) add(p, k);
  try {
    const res = await p.exec();
    if (res) return res;
  } catch {
    // "All keys in the pipeline should belong to the same slots allocation group": the map moved.
  }
  const out: [Error | null, unknown][] = [];
  for (const k of keys)
    out.push(
      await one(k).then(
        (v) => [null, v] as [null, unknown],
        (e: Error) => [e, null] as [Error, unknown],
      ),
    );
  return out;
}

/** Runs fn over chunks of keys grouped per node, a few chunks at a time. */
async function perNodeChunks(cluster: Cluster, keys: string[], chunk: number, fn: (keys: string[]) => Promise<void>): Promise<void> {
  const work: string[][] = [];
  for (const g of groupByNode(cluster, keys)) for (let i = 0; i < g.length; i += chunk) work.push(g.slice(i, i + chunk));
  let next = 0;
  const runners = Array.from({ length: 4 }, async () => {
    while (next < work.length) await fn(work[next++]!);
  });
  await Promise.all(runners);
}

/** Writes count keys `${prefix}:${i}` with deterministic values of valueBytes, pipelined. */
export async function loadKeys(cluster: Cluster, count: number, valueBytes: number, prefix = 'key'): Promise<void> {
  await ensureSlots(cluster);
  const keys = Array.from({ length: count }, (_, i) => keyName(prefix, i));
  await perNodeChunks(cluster, keys, 2000, async (chunk) => {
    const res = await pipelined(
      cluster,
      chunk,
      (p, k) => p.set(k, valueFor(k, valueBytes)),
      (k) => cluster.set(k, valueFor(k, valueBytes)),
    );
    // Keys whose slot moved under the pipeline are written again one by one, redirects followed.
    for (const [i, [err]] of res.entries()) if (err) await cluster.set(chunk[i]!, valueFor(chunk[i]!, valueBytes));
  });
}

export interface VerifyResult {
  checked: number;
  missing: number;
  wrong: number;
  missingKeys: string[];
}

/** Reads the given keys back (all of `${prefix}:0..count-1` by default) and counts missing/wrong values. */
export async function verifyKeys(
  cluster: Cluster,
  count: number,
  valueBytes: number,
  prefix = 'key',
  keys?: string[],
): Promise<VerifyResult> {
  await ensureSlots(cluster);
  const list = keys ?? Array.from({ length: count }, (_, i) => keyName(prefix, i));
  let missing = 0;
  let wrong = 0;
  const missingKeys: string[] = [];
  await perNodeChunks(cluster, list, 2000, async (chunk) => {
    const res = await pipelined(
      cluster,
      chunk,
      (p, k) => p.get(k),
      (k) => cluster.get(k),
    );
    for (let i = 0; i < chunk.length; i++) {
      const k = chunk[i]!;
      const [err, first] = res[i] ?? [new Error('no reply'), null];
      const v = err ? await cluster.get(k) : first;
      if (v === null || v === undefined) {
        missing++;
        if (missingKeys.length < 20) missingKeys.push(k);
      } else if (v !== valueFor(k, valueBytes)) wrong++;
    }
  });
  return { checked: list.length, missing, wrong, missingKeys };
}

export interface ClientLoad {
  client: Cluster;
  stop(): Promise<{ ops: number; failures: string[]; acked: string[] }>;
}

/**
 * A client that keeps writing and reading unique keys (SET then GET) with default ioredis cluster
 * options; every error or wrong read is a failure, every OK to a SET an acknowledged write.
 */
export function startClientLoad(
  endpoints: Endpoint[],
  opts: { password?: string; workers?: number; prefix?: string; valueBytes?: number } = {},
): ClientLoad {
  const client = new Cluster(
    endpoints.map((e) => ({ host: e.ip, port: e.port })),
    { redisOptions: { password: opts.password } },
  );
  client.on('error', () => {});
  const prefix = opts.prefix ?? `load${Math.floor(Math.random() * 1e6)}`;
  const valueBytes = opts.valueBytes ?? 32;
  let stopped = false;
  let ops = 0;
  let seq = 0;
  const failures: string[] = [];
  const acked: string[] = [];
  const worker = async () => {
    while (!stopped) {
      const key = `${prefix}:${seq++}`;
      const value = valueFor(key, valueBytes);
      try {
        const ok = await client.set(key, value);
        ops++;
        if (ok === 'OK') acked.push(key);
        else failures.push(`SET ${key} answered ${String(ok)}`);
        const got = await client.get(key);
        ops++;
        if (got !== value) failures.push(`GET ${key} returned ${got === null ? 'nil' : 'a wrong value'}`);
      } catch (err) {
        failures.push(`${key}: ${err instanceof Error ? err.message : String(err)}`);
        await sleep(10);
      }
    }
  };
  const runners = Array.from({ length: opts.workers ?? 2 }, worker);
  return {
    client,
    async stop() {
      stopped = true;
      await Promise.all(runners);
      return { ops, failures, acked };
    },
  };
}

/** Checks that every acknowledged key of a client load is readable with its value. */
export function verifyAcked(cluster: Cluster, acked: string[], valueBytes = 32): Promise<VerifyResult> {
  return verifyKeys(cluster, acked.length, valueBytes, '', acked);
}

/** The redis-cli layout (even contiguous ranges, replicas round-robin) for tests that need a plain plan. */
export function evenCreatePlan(desired: DesiredNode[], masters: number, replicasPerMaster: number): CreatePlan {
  const plan: CreatePlan = { masters: [], replicas: [] };
  const per = 16384 / masters;
  let first = 0;
  let cursor = 0;
  for (let i = 0; i < masters; i++) {
    const last = i === masters - 1 ? 16383 : Math.round(cursor + per - 1);
    plan.masters.push({ node: desired[i]!.name, slots: [{ start: first, end: last }] });
    first = last + 1;
    cursor += per;
  }
  let next = masters;
  for (let r = 0; r < replicasPerMaster; r++)
    for (let i = 0; i < masters && next < desired.length; i++)
      plan.replicas.push({ node: desired[next++]!.name, masterNode: desired[i]!.name });
  return plan;
}
