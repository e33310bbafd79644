// Applying the example: the cluster forms on the embedded platform (real redis-server processes on
// three virtual nodes), serves every slot with each replica off its master's host, keeps data, and
// deleting it removes every Pod, process and the finalizer.
import { describe, expect, it } from 'vitest';
import {
  applyCluster,
  clusterClient,
  clusterPods,
  countKeys,
  eventually,
  freeBasePort,
  redisServers,
  statusNodes,
  useE2E,
  writeKeys,
} from '../helpers/e2e.js';

const NS = 'cache';
const NAME = 'rediscluster1';
let basePort: number;
const e2e = useE2E({ namespaces: [NS] }, async () => {
  basePort = await freeBasePort(6);
});

describe('reconcile: create and delete', () => {
  it('applying the example gives a Ready cluster with 16384 slots, 6 redis-server processes, replicas off their master host', async () => {
    const started = Date.now();
    const { applied, ready } = await applyCluster(e2e, { spec: { basePort } });
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    console.log(`apply -> Ready (3x1): ${Date.now() - started} ms`);

    const nodes = statusNodes(ready);
    const masters = nodes.filter((n) => n.role === 'master');
    expect(masters).toHaveLength(3);
    const slots = masters
      .flatMap((m) => m.slots ?? [])
      .reduce((n, r) => {
        const [a, b] = r.split('-').map(Number) as [number, number?];
        return n + (b === undefined ? 1 : b - a + 1);
      }, 0);
    expect(slots).toBe(16384);

    const processes = await redisServers([0, 1, 2, 3, 4, 5].map((i) => basePort + i));
    expect(processes).toHaveLength(6);

    const pods = await clusterPods(e2e, NS, NAME);
    const hostOf = new Map(pods.map((p) => [p.metadata!.name!, p.spec!.nodeName as string]));
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const replicas = nodes.filter((n) => n.role === 'replica');
    expect(replicas).toHaveLength(3);
    for (const r of replicas) {
      const master = byId.get(r.masterId!)!;
      expect(hostOf.get(r.pod), `${r.pod} and its master ${master.pod}`).not.toBe(hostOf.get(master.pod));
    }

    const client = clusterClient(ready);
    try {
      await writeKeys(client, 'create', 500);
      expect(await countKeys(client, 'create', 500)).toBe(500);
    } finally {
      client.disconnect();
    }
    const cr = await e2e.getCluster(NS, NAME);
    expect(cr!.metadata!.finalizers).toContain('redis.redis/finalizer');
  }, 200_000);

  it('deleting the cluster removes every Pod and redis-server process and the finalizer', async () => {
    const ports = [0, 1, 2, 3, 4, 5].map((i) => basePort + i);
    const deleted = await e2e.kubectl(['delete', 'rediscluster', NAME, '-n', NS, '--wait=false']);
    expect(deleted.code).toBe(0);
    await eventually('the RedisCluster to be gone', async () => (await e2e.getCluster(NS, NAME)) === undefined, 90_000, 500);
    await eventually('every Pod to be gone', async () => (await clusterPods(e2e, NS, NAME)).length === 0, 60_000, 500);
    await eventually('every redis-server process to end', async () => (await redisServers(ports)).length === 0, 60_000, 500);
  }, 200_000);
});
