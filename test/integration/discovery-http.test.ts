// The discovery function over real HTTP, with real redis-server clusters behind it and RedisCluster
// objects (status written through the status subresource) in the embedded API server.
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscoveryHost, type Discovery } from '../../functions/discovery/handler.js';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Kube } from '../../shared/kube/client.js';
import { LABEL_ORDINAL, selectorLabels } from '../../shared/api/labels.js';
import type { NodeStatus } from '../../shared/api/status.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { formatRange } from '../../shared/redis/topology.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { evenCreatePlan, freePortPair, startRedisNodes, type Harness } from '../helpers/redis-harness.js';
import { startApiWithClusterCrd, type TestApi } from '../helpers/platform-api.js';

const TTL_MS = 400;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const G = { group: 'redis.redis', version: 'v1beta1', plural: 'redisclusters' };

let api: TestApi;
let kube: Kube;
let plain: Harness;
let secured: Harness;
let discovery: Discovery;
let listening: ListeningHost;
let pool: RedisPool;
/** What the nodes of `plain` say about themselves, for building status.nodes. */
let plainStatus: NodeStatus[];

interface Answer {
  status: number;
  type: string | null;
  source: string | null;
  text: string;
  json: any;
}

async function get(path: string): Promise<Answer> {
  const response = await fetch(`${listening.url}${path}`);
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    source: response.headers.get('x-discovery-source'),
    text,
    json,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusFromCluster(h: Harness, pods: (i: number) => string): Promise<NodeStatus[]> {
  const { reports } = await pool.readAll(h.endpoints);
  const view = reports[0]!.nodes;
  return view.map((n) => {
    const i = h.nodes.findIndex((x) => x.ip === n.ip && x.port === n.port);
    return {
      id: n.id,
      pod: pods(i),
      ip: n.ip,
      port: n.port,
      role: n.role,
      ...(n.masterId ? { masterId: n.masterId } : {}),
      ...(n.role === 'master' ? { slots: n.slots.map(formatRange) } : {}),
    };
  });
}

async function createCluster(
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
  nodes?: NodeStatus[],
  phase = 'Ready',
): Promise<void> {
  await kube.custom.createNamespacedCustomObject({
    ...G,
    namespace,
    body: {
      apiVersion: 'redis.redis/v1beta1',
      kind: 'RedisCluster',
      metadata: { name, namespace },
      spec: { masters: 3, replicas: 1, maxMemory: '64mb', ...spec },
    },
  });
  if (nodes) await kube.patchClusterStatus({ namespace, name }, { phase, nodes });
}

function sorted<T extends { ip: string; port: number }>(list: T[]): { ip: string; port: number }[] {
  return list.map((e) => ({ ip: e.ip, port: e.port })).sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port);
}

/** Sum of a command's calls over the nodes, from INFO commandstats. */
async function commandCalls(h: Harness, command: string, password?: string): Promise<number> {
  let total = 0;
  for (const n of h.nodes.filter((x) => x.running)) {
    const c = new Redis({ host: n.ip, port: n.port, password, lazyConnect: true });
    await c.connect();
    const info = await c.info('commandstats');
    c.disconnect();
    const m = new RegExp(`^cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(info);
    total += m ? Number(m[1]) : 0;
  }
  return total;
}

beforeAll(async () => {
  const started = await startApiWithClusterCrd();
  api = started.api;
  kube = started.kube;

  pool = new RedisPool();
  plain = await startRedisNodes(6, { config: { 'cluster-node-timeout': '2000' } });
  const desired = plain.desiredNodes();
  const formed = await ensureCreated(pool, desired, evenCreatePlan(desired, 3, 1));
  expect(formed.done).toBe(true);
  plainStatus = await statusFromCluster(plain, (i) => `rc-live-${i}`);

  secured = await startRedisNodes(3, { password: 's3cret pass', config: { 'cluster-node-timeout': '2000' } });
  const securedPool = new RedisPool({ password: 's3cret pass' });
  const securedDesired = secured.desiredNodes();
  expect((await ensureCreated(securedPool, securedDesired, evenCreatePlan(securedDesired, 3, 0))).done).toBe(true);
  await securedPool.close();

  await createCluster('cache', 'rc-live', {}, plainStatus);
  await createCluster('default', 'dup', {}, plainStatus);
  await createCluster('cache', 'dup', {}, plainStatus);

  // A long hedge delay: a slow read on a busy machine must not start a second one, or the command counts below would vary.
  const host = createDiscoveryHost({ kube, cacheTtlMs: TTL_MS, hedgeMs: 10_000, config: { PORT: 0, LOG_LEVEL: 'silent' } });
  discovery = host.discovery;
  listening = await host.host.listen(0, '127.0.0.1');
}, 120_000);

afterAll(async () => {
  await listening?.close();
  await discovery?.close();
  await pool?.close();
  await plain?.stop();
  await secured?.stop();
  await api?.close();
});

describe('GET /cluster/nodes', () => {
  it('answers the reference format exactly: a JSON array of {ip, port} with numbers, every live node', async () => {
    const a = await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
    expect(a.status).toBe(200);
    expect(a.type).toMatch(/^application\/json/);
    expect(a.source).toBe('live');
    expect(Array.isArray(a.json)).toBe(true);
    expect(a.json).toEqual(sorted(plain.endpoints));
    for (const item of a.json) {
      expect(Object.keys(item)).toEqual(['ip', 'port']);
      expect(typeof item.port).toBe('number');
    }
    expect(a.text).toMatch(/^\[\{"ip":"127\.0\.0\.1","port":\d+\}(,\{"ip":"127\.0\.0\.1","port":\d+\}){5}\]$/);
  });

  it('searches every namespace when none is given, as the reference does', async () => {
    const a = await get('/cluster/nodes?clusterName=rc-live');
    expect(a.status).toBe(200);
    expect(a.json).toEqual(sorted(plain.endpoints));
  });

  it('400 without clusterName, naming the parameter, as JSON', async () => {
    for (const path of ['/cluster/nodes', '/cluster/nodes?namespace=cache', '/cluster/topology']) {
      const a = await get(path);
      expect(a.status).toBe(400);
      expect(a.type).toMatch(/^application\/json/);
      expect(a.json.message).toMatch(/clusterName is required/);
    }
  });

  it('400 for bad values, naming the parameter; unknown parameters are ignored', async () => {
    expect((await get('/cluster/nodes?clusterName=')).json.message).toMatch(/clusterName must not be empty/);
    const bad = await get('/cluster/nodes?clusterName=Not_A_Name');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/clusterName "Not_A_Name" is not a valid RedisCluster name/);
    const twice = await get('/cluster/nodes?clusterName=a&clusterName=b');
    expect(twice.status).toBe(400);
    expect(twice.json.message).toMatch(/clusterName must be given once/);
    const ns = await get('/cluster/nodes?clusterName=rc-live&namespace=Bad.NS');
    expect(ns.status).toBe(400);
    expect(ns.json.message).toMatch(/^namespace /);
    const role = await get('/cluster/nodes?clusterName=rc-live&role=primary');
    expect(role.status).toBe(400);
    expect(role.json.message).toBe('role must be one of master, replica, got "primary"');
    const extra = await get('/cluster/nodes?clusterName=rc-live&namespace=cache&format=yaml&x=1');
    expect(extra.status).toBe(200);
    expect(extra.json).toHaveLength(6);
    // `role[]` is not `role`: an unknown parameter, ignored.
    expect((await get('/cluster/nodes?clusterName=rc-live&namespace=cache&role[]=master')).json).toHaveLength(6);
  });

  it('odd query strings get 4xx with a JSON message, never 500', async () => {
    const odd = [
      '?clusterName=%ZZ',
      '?clusterName=%00',
      '?clusterName[]=rc-live',
      '?clusterName[a]=b',
      '?__proto__=x',
      '?constructor=x&clusterName=',
      '?clusterName=' + 'a'.repeat(300),
      '?clusterName=rc-live&namespace=%2e%2e',
      '?clusterName=' + encodeURIComponent('rc-live\n'),
      '?&&&=&=',
    ];
    for (const q of odd) {
      for (const endpoint of ['/cluster/nodes', '/cluster/topology']) {
        const a = await get(`${endpoint}${q}`);
        expect(a.status, `${endpoint}${q}`).toBeGreaterThanOrEqual(400);
        expect(a.status, `${endpoint}${q}`).toBeLessThan(500);
        expect(typeof a.json?.message, `${endpoint}${q}`).toBe('string');
      }
    }
  });

  it('answers other paths and methods under /cluster/ with JSON too', async () => {
    const path = await get('/cluster/shards?clusterName=rc-live');
    expect(path.status).toBe(404);
    expect(path.json.message).toBe('no endpoint /cluster/shards; discovery serves GET /cluster/nodes and GET /cluster/topology');
    const post = await fetch(`${listening.url}/cluster/nodes?clusterName=rc-live`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(((await post.json()) as { message: string }).message).toBe('POST is not allowed on /cluster/nodes; use GET');
  });

  it('404 for an unknown cluster, in any namespace or in the one named', async () => {
    const a = await get('/cluster/nodes?clusterName=nope');
    expect(a.status).toBe(404);
    expect(a.json.message).toBe('RedisCluster "nope" not found in any namespace');
    const b = await get('/cluster/nodes?clusterName=rc-live&namespace=default');
    expect(b.status).toBe(404);
    expect(b.json.message).toBe('RedisCluster "rc-live" not found in namespace "default"');
  });

  it('409 when the name exists in several namespaces and none is given; 200 with the namespace', async () => {
    const a = await get('/cluster/nodes?clusterName=dup');
    expect(a.status).toBe(409);
    expect(a.json.message).toContain('cache, default');
    expect(a.json.namespaces).toEqual(['cache', 'default']);
    const b = await get('/cluster/nodes?clusterName=dup&namespace=default');
    expect(b.status).toBe(200);
    expect(b.json).toHaveLength(6);
  });

  it('role=master and role=replica split the nodes as CLUSTER NODES does', async () => {
    const masters = plainStatus.filter((n) => n.role === 'master');
    const replicas = plainStatus.filter((n) => n.role === 'replica');
    expect(masters).toHaveLength(3);
    expect((await get('/cluster/nodes?clusterName=rc-live&namespace=cache&role=master')).json).toEqual(sorted(masters));
    expect((await get('/cluster/nodes?clusterName=rc-live&namespace=cache&role=replica')).json).toEqual(sorted(replicas));
  });

  it('reads with the password from spec.passwordSecret', async () => {
    await kube.core.createNamespacedSecret({
      namespace: 'cache',
      body: { metadata: { name: 'rc-auth' }, stringData: { redis: 's3cret pass' } },
    });
    const status = secured.nodes.map((n, i) => ({
      id: `unknown-${i}`,
      pod: `rc-auth-${i}`,
      ip: n.ip,
      port: n.port,
      role: 'master' as const,
    }));
    await createCluster('cache', 'rc-auth', { replicas: 0, passwordSecret: { name: 'rc-auth', key: 'redis' } }, status);
    const a = await get('/cluster/nodes?clusterName=rc-auth&namespace=cache');
    expect(a.status).toBe(200);
    expect(a.source).toBe('live');
    expect(a.json).toEqual(sorted(secured.endpoints));
    const t = await get('/cluster/topology?clusterName=rc-auth&namespace=cache');
    expect(t.json.masters).toHaveLength(3);
    expect(t.json.health.problems).toEqual([]);
  });

  it('finds the nodes through the Pods when the status lists none yet', async () => {
    const basePort = Math.min(...plain.nodes.map((n) => n.port));
    await createCluster('cache', 'rc-pods', { basePort });
    for (const n of plain.nodes) {
      const name = `rc-pods-${n.index}`;
      await kube.core.createNamespacedPod({
        namespace: 'cache',
        body: {
          metadata: { name, labels: { ...selectorLabels('rc-pods'), [LABEL_ORDINAL]: String(n.port - basePort) } },
          spec: { containers: [{ name: 'redis', image: 'redis:7' }] },
        },
      });
      await kube.core.patchNamespacedPodStatus(
        { namespace: 'cache', name, body: { status: { podIP: n.ip, podIPs: [{ ip: n.ip }] } } },
        mergePatch,
      );
    }
    const pods = await kube.core.listNamespacedPod({ namespace: 'cache', labelSelector: 'redis.redis/cluster=rc-pods' });
    expect(pods.items.map((p) => p.status?.podIP)).toEqual(plain.nodes.map((n) => n.ip));
    const a = await get('/cluster/nodes?clusterName=rc-pods&namespace=cache');
    expect(a.status).toBe(200);
    expect(a.source).toBe('live');
    expect(a.json).toEqual(sorted(plain.endpoints));
  });
});

describe('GET /cluster/topology', () => {
  it('shows masters with slot ranges and replicas, pod names, health and the source', async () => {
    const a = await get('/cluster/topology?clusterName=rc-live&namespace=cache');
    expect(a.status).toBe(200);
    const t = a.json;
    expect(t).toMatchObject({ name: 'rc-live', namespace: 'cache', source: 'live', phase: 'Ready' });
    expect(plain.endpoints).toContainEqual({ ip: t.observer.ip, port: t.observer.port });
    expect(t.health.clusterState).toBe('ok');
    expect(t.health.slotsAssigned).toBe(16384);
    expect(t.health.problems).toEqual([]);
    expect(t.masters).toHaveLength(3);
    expect(t.masters.map((m: any) => m.slots)).toEqual([['0-5460'], ['5461-10922'], ['10923-16383']]);
    expect(t.masters.reduce((n: number, m: any) => n + m.slotCount, 0)).toBe(16384);
    for (const m of t.masters) {
      expect(m.replicas).toHaveLength(1);
      expect(m.replicas[0].masterId).toBe(m.id);
      expect(m.pod).toBe(plainStatus.find((s) => s.id === m.id)!.pod);
      expect(m.reachable).toBe(true);
    }
    expect(t.nodes).toHaveLength(6);
  });
});

describe('the cache', () => {
  it('a burst of 50 concurrent requests costs one CLUSTER NODES round', async () => {
    // A TTL longer than the burst takes on a loaded machine, so exactly one read is expected.
    const second = createDiscoveryHost({ kube, cacheTtlMs: 30_000, hedgeMs: 10_000, config: { PORT: 0, LOG_LEVEL: 'silent' } });
    const l = await second.host.listen(0, '127.0.0.1');
    try {
      const before = await commandCalls(plain, 'cluster|nodes');
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => fetch(`${l.url}/cluster/nodes?clusterName=rc-live&namespace=cache`).then((r) => r.json())),
      );
      const after = await commandCalls(plain, 'cluster|nodes');
      for (const a of answers) expect(a).toEqual(sorted(plain.endpoints));
      expect(after - before).toBe(1);
      expect(second.discovery.cache.stats).toMatchObject({ loads: 1, failures: 0 });
      expect(second.discovery.cache.stats.joined + second.discovery.cache.stats.hits).toBe(49);
      const metrics = await (await fetch(`${l.url}/metrics`)).text();
      expect(metrics).toMatch(/discovery_cache_lookups_total\{result="load",function="discovery"\} 1\n/);
      expect(metrics).toMatch(/discovery_cluster_reads_total\{source="live",function="discovery"\} 1\n/);
      expect(metrics).toMatch(/discovery_requests_total\{endpoint="nodes",code="200",function="discovery"\} 50\n/);
    } finally {
      await l.close();
      await second.discovery.close();
    }
  });

  it('serves a stored answer within the TTL and reads again after it', async () => {
    await sleep(TTL_MS + 50);
    const before = await commandCalls(plain, 'cluster|nodes');
    await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
    await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
    const mid = await commandCalls(plain, 'cluster|nodes');
    await sleep(TTL_MS + 50);
    await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
    const after = await commandCalls(plain, 'cluster|nodes');
    expect(mid - before).toBe(1);
    expect(after - mid).toBe(1);
  });
});

describe('failures', () => {
  it('a killed node disappears from the answer once the cache has expired', async () => {
    const victim = plain.nodes.findIndex((n) => plainStatus.find((s) => s.ip === n.ip && s.port === n.port)!.role === 'replica');
    const gone = { ip: plain.nodes[victim]!.ip, port: plain.nodes[victim]!.port };
    await plain.kill(victim);
    const killedAt = Date.now();
    let answer: Answer;
    for (;;) {
      answer = await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
      if (!answer.json.some((e: { port: number }) => e.port === gone.port)) break;
      expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 3000);
      await sleep(50);
    }
    expect(answer.source).toBe('live');
    expect(answer.json).toEqual(sorted(plain.endpoints.filter((e) => e.port !== gone.port)));
    const t = (await get('/cluster/topology?clusterName=rc-live&namespace=cache')).json;
    expect(t.nodes.find((n: any) => n.port === gone.port).reachable).toBe(false);
  });

  it('a node that accepts connections but never answers does not hold the answer up', async () => {
    const silent = net.createServer(() => {
      // Accepts and says nothing, like a hung node.
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as { port: number }).port;
    const hedged = createDiscoveryHost({
      kube,
      cacheTtlMs: TTL_MS,
      hedgeMs: 100,
      commandTimeoutMs: 5000,
      config: { PORT: 0, LOG_LEVEL: 'silent' },
    });
    const l = await hedged.host.listen(0, '127.0.0.1');
    try {
      const status = [{ id: 'f'.repeat(40), pod: 'rc-hung-9', ip: '127.0.0.1', port: silentPort, role: 'master' as const }, ...plainStatus];
      await createCluster('cache', 'rc-hung', {}, status);
      const started = Date.now();
      const r = await fetch(`${l.url}/cluster/nodes?clusterName=rc-hung&namespace=cache`);
      const elapsed = Date.now() - started;
      expect(r.headers.get('x-discovery-source')).toBe('live');
      const running = plain.nodes.filter((n) => n.running);
      expect(await r.json()).toEqual(sorted(running));
      // Well under the 5 s command timeout the hung node would have cost on its own.
      expect(elapsed).toBeLessThan(2500);
    } finally {
      await l.close();
      await hedged.discovery.close();
      silent.close();
    }
  });

  it('answers from the status when no node answers', async () => {
    const deadPort = await freePortPair();
    const status: NodeStatus[] = [
      { id: 'x'.repeat(40), pod: 'rc-dead-0', ip: '127.0.0.1', port: deadPort, role: 'master', slots: ['0-16383'] },
    ];
    await createCluster('cache', 'rc-dead', {}, status, 'Degraded');
    const a = await get('/cluster/nodes?clusterName=rc-dead&namespace=cache');
    expect(a.status).toBe(200);
    expect(a.source).toBe('status');
    expect(a.json).toEqual([{ ip: '127.0.0.1', port: deadPort }]);
    const t = (await get('/cluster/topology?clusterName=rc-dead&namespace=cache')).json;
    expect(t.source).toBe('status');
    expect(t.health.clusterState).toBe('unknown');
    expect(t.health.problems[0].message).toContain(`127.0.0.1:${deadPort}`);

    // The formed cluster loses every node: its status is the answer, in the same format.
    for (const n of plain.nodes) if (n.running) await plain.kill(n.index);
    await sleep(TTL_MS + 50);
    const all = await get('/cluster/nodes?clusterName=rc-live&namespace=cache');
    expect(all.status).toBe(200);
    expect(all.source).toBe('status');
    expect(all.json).toEqual(sorted(plainStatus));
    const masters = await get('/cluster/nodes?clusterName=rc-live&namespace=cache&role=master');
    expect(masters.json).toEqual(sorted(plainStatus.filter((n) => n.role === 'master')));
  });
});
