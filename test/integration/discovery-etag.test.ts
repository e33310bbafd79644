// The discovery answers' ETag over real HTTP: stable while the topology holds, new when it changes,
// 304 without a body for a client that already has it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscoveryHost, type Discovery } from '../../functions/discovery/handler.js';
import type { NodeStatus } from '../../shared/api/status.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { formatRange } from '../../shared/redis/topology.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { evenCreatePlan, startRedisNodes, type Harness } from '../helpers/redis-harness.js';
import { startApiWithClusterCrd, type TestApi } from '../helpers/platform-api.js';

const TTL_MS = 300;
const NODES = '/cluster/nodes?clusterName=rc-tag&namespace=cache';
const TOPOLOGY = '/cluster/topology?clusterName=rc-tag&namespace=cache';

let api: TestApi;
let harness: Harness;
let discovery: Discovery;
let listening: ListeningHost;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function request(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> {
  return fetch(`${listening.url}${path}`, { method, headers });
}

beforeAll(async () => {
  const started = await startApiWithClusterCrd();
  api = started.api;
  const kube = started.kube;

  harness = await startRedisNodes(3, { config: { 'cluster-node-timeout': '2000' } });
  const pool = new RedisPool();
  const desired = harness.desiredNodes();
  expect((await ensureCreated(pool, desired, evenCreatePlan(desired, 3, 0))).done).toBe(true);
  const { reports } = await pool.readAll(harness.endpoints);
  await pool.close();
  const nodes: NodeStatus[] = reports[0]!.nodes.map((n, i) => ({
    id: n.id,
    pod: `rc-tag-${i}`,
    ip: n.ip,
    port: n.port,
    role: n.role,
    slots: n.slots.map(formatRange),
  }));
  await kube.custom.createNamespacedCustomObject({
    group: 'redis.redis',
    version: 'v1beta1',
    plural: 'redisclusters',
    namespace: 'cache',
    body: {
      apiVersion: 'redis.redis/v1beta1',
      kind: 'RedisCluster',
      metadata: { name: 'rc-tag', namespace: 'cache' },
      spec: { masters: 3, replicas: 0, maxMemory: '64mb' },
    },
  });
  await kube.patchClusterStatus({ namespace: 'cache', name: 'rc-tag' }, { phase: 'Ready', nodes });

  const host = createDiscoveryHost({ kube, cacheTtlMs: TTL_MS, hedgeMs: 10_000, config: { PORT: 0, LOG_LEVEL: 'silent' } });
  discovery = host.discovery;
  listening = await host.host.listen(0, '127.0.0.1');
}, 120_000);

afterAll(async () => {
  await listening?.close();
  await discovery?.close();
  await harness?.stop();
  await api?.close();
});

describe('ETag and If-None-Match', () => {
  it('answers 200 with a strong ETag and no-cache, stable across cache refreshes while the topology holds', async () => {
    const first = await request(NODES);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await first.text();
    expect(first.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(JSON.parse(body)).toHaveLength(3);

    const loads = discovery.cache.stats.loads;
    await sleep(TTL_MS + 50);
    const again = await request(NODES);
    expect(discovery.cache.stats.loads).toBe(loads + 1);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe(body);
  });

  it('304 with the ETag and no body for a matching tag, a list holding it, a weak form of it, and *', async () => {
    const etag = (await request(NODES)).headers.get('etag')!;
    for (const ifNoneMatch of [etag, `"elsewhere", ${etag}`, `W/${etag}`, '*']) {
      const r = await request(NODES, { 'If-None-Match': ifNoneMatch });
      expect(r.status, ifNoneMatch).toBe(304);
      expect(r.headers.get('etag')).toBe(etag);
      expect(r.headers.get('cache-control')).toBe('no-cache');
      expect(r.headers.get('x-discovery-source')).toBe('live');
      expect(await r.text()).toBe('');
    }
    const metrics = await (await request('/metrics')).text();
    expect(metrics).toMatch(/discovery_requests_total\{endpoint="nodes",code="304",function="discovery"\} 4\n/);
  });

  it('200 with the body for a tag that does not match', async () => {
    const fresh = await request(NODES);
    const r = await request(NODES, { 'If-None-Match': '"not-this-one", W/"nor-this"' });
    expect(r.status).toBe(200);
    expect(r.headers.get('etag')).toBe(fresh.headers.get('etag'));
    expect(await r.text()).toBe(await fresh.text());
  });

  it('each view has its own ETag; role filters are views of their own', async () => {
    const all = (await request(NODES)).headers.get('etag');
    const masters = await request(`${NODES}&role=master`);
    const replicas = await request(`${NODES}&role=replica`);
    expect(await replicas.json()).toEqual([]);
    const topology = await request(TOPOLOGY);
    expect(topology.status).toBe(200);
    expect(topology.headers.get('cache-control')).toBe('no-cache');
    const tags = [all, masters.headers.get('etag'), replicas.headers.get('etag'), topology.headers.get('etag')];
    // Three masters and no replica: the whole list and the masters' list are the same answer.
    expect(tags[1]).toBe(tags[0]);
    expect(new Set(tags).size).toBe(3);
    const revalidated = await request(TOPOLOGY, { 'If-None-Match': topology.headers.get('etag')! });
    expect([200, 304]).toContain(revalidated.status);
    if (revalidated.status === 304) expect(revalidated.headers.get('etag')).toBe(topology.headers.get('etag'));
  });

  it('HEAD answers the headers of GET without the body, and 304 on a match', async () => {
    const get = await request(NODES);
    const body = await get.text();
    const head = await request(NODES, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
    expect(await head.text()).toBe('');
    expect((await request(NODES, { 'If-None-Match': get.headers.get('etag')! }, 'HEAD')).status).toBe(304);
  });

  it('the paths express matches loosely answer the same, ETag and 304 included', async () => {
    const exact = await request(NODES);
    const etag = exact.headers.get('etag')!;
    const loose = await request(NODES.replace('/cluster/nodes', '/cluster/nodes/'));
    expect(loose.status).toBe(200);
    expect(loose.headers.get('etag')).toBe(etag);
    expect(await loose.text()).toBe(await exact.text());
    expect((await request(NODES.replace('/cluster/nodes', '/Cluster/Nodes'), { 'If-None-Match': etag })).status).toBe(304);
  });

  it('a bad query is still 400 naming the field, whatever If-None-Match says', async () => {
    const r = await request('/cluster/nodes?clusterName=rc-tag&role=primary', { 'If-None-Match': '*' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toBe('role must be one of master, replica, got "primary"');
    const missing = await request('/cluster/nodes', { 'If-None-Match': '*' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { message: string }).message).toMatch(/clusterName is required/);
  });

  it('a new ETag, and 200 for the old one, once the topology changes', async () => {
    const before = await request(NODES);
    const etag = before.headers.get('etag')!;
    const victim = harness.nodes[2]!;
    await harness.kill(2);
    const deadline = Date.now() + TTL_MS + 5000;
    let after: Response;
    for (;;) {
      after = await request(NODES, { 'If-None-Match': etag });
      if (after.status === 200) break;
      expect(after.status).toBe(304);
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }
    expect(after.headers.get('etag')).not.toBe(etag);
    const nodes = (await after.json()) as { ip: string; port: number }[];
    expect(nodes).toHaveLength(2);
    expect(nodes).not.toContainEqual({ ip: victim.ip, port: victim.port });
    expect((await request(NODES, { 'If-None-Match': after.headers.get('etag')! })).status).toBe(304);
  });
});
