// Spec changes and event delivery: replicas 1 -> 2 -> 1 through kubectl patch, specs the CRD
// refuses and specs the operator cannot honour, and events delivered twice, stale or out of order.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import {
  applyCluster,
  clusterPods,
  condition,
  countKeys,
  eventually,
  exampleCluster,
  freeBasePort,
  postEvent,
  redisServers,
  statusNodes,
  useE2E,
  waitForReady,
  withClusterClient,
  withNode,
  writeKeys,
} from '../helpers/e2e.js';

const NS = 'specs';
const NAME = 'shaped';
let basePort: number;
const e2e = useE2E(
  { namespaces: [NS] },
  async (e) => {
    ({ basePort } = await applyCluster(e, { name: NAME, namespace: NS, ports: 9 }));
  },
  200_000,
);

async function replicaLayout(obj: KubeObject): Promise<Map<string, string[]>> {
  const pods = await clusterPods(e2e, NS, NAME);
  const hostOf = new Map(pods.map((p) => [p.metadata!.name!, p.spec!.nodeName as string]));
  const nodes = statusNodes(obj);
  const layout = new Map<string, string[]>();
  for (const m of nodes.filter((n) => n.role === 'master')) {
    const hosts = [m, ...nodes.filter((n) => n.masterId === m.id)].map((n) => hostOf.get(n.pod)!);
    layout.set(m.id, hosts);
  }
  return layout;
}

async function nodeIds(obj: KubeObject): Promise<string[]> {
  const out: string[] = [];
  for (const n of statusNodes(obj)) {
    const lines = await withNode(n, async (r) =>
      String(await r.call('CLUSTER', 'NODES'))
        .trim()
        .split('\n'),
    );
    out.push(...lines.map((l) => l.split(' ').slice(0, 4).join(' ')).sort());
  }
  return out;
}

describe('reconcile: spec changes', () => {
  it('replicas 1 -> 2 -> 1 through kubectl patch: replicas attached and removed, never beside their master', async () => {
    const ready = await waitForReady(e2e, NS, NAME, 60_000, 6);
    await withClusterClient(ready, (client) => writeKeys(client, 'replicas', 500));

    const up = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"replicas":2}}']);
    expect(up.code, up.stderr).toBe(0);
    const two = await waitForReady(e2e, NS, NAME, 150_000, 9);
    expect(statusNodes(two).filter((n) => n.role === 'replica')).toHaveLength(6);
    for (const [master, hosts] of await replicaLayout(two)) {
      expect(hosts, `shard of ${master}`).toHaveLength(3);
      expect(new Set(hosts).size, `shard of ${master} spans ${hosts.join(',')}`).toBe(3);
    }
    expect(await clusterPods(e2e, NS, NAME)).toHaveLength(9);

    const down = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"replicas":1}}']);
    expect(down.code, down.stderr).toBe(0);
    const one = await waitForReady(e2e, NS, NAME, 150_000, 6);
    await eventually('the surplus Pods to be gone', async () => (await clusterPods(e2e, NS, NAME)).length === 6, 60_000, 500);
    for (const [master, hosts] of await replicaLayout(one)) {
      expect(hosts, `shard of ${master}`).toHaveLength(2);
      expect(hosts[0]).not.toBe(hosts[1]);
    }
    // Every node forgot the removed replicas: 6 lines in each view.
    for (const n of statusNodes(one)) {
      expect(
        await withNode(n, async (r) =>
          String(await r.call('CLUSTER', 'NODES'))
            .trim()
            .split('\n'),
        ),
      ).toHaveLength(6);
    }
    expect(await withClusterClient(one, (client) => countKeys(client, 'replicas', 500))).toBe(500);
  }, 360_000);

  it('a new maxMemory, and no snapshots without persistence, reach every running node without a restart', async () => {
    const before = await waitForReady(e2e, NS, NAME, 60_000, 6);
    const pids = (await redisServers(statusNodes(before).map((n) => n.port))).map((p) => p.pid).sort();
    // Without persistence no node takes snapshots (a stale one would be loaded on a restart); one
    // running on Redis's defaults, as nodes made before that setting do, is brought in line too.
    const first = statusNodes(before)[0]!;
    await withNode(first, (r) => r.call('CONFIG', 'SET', 'save', '3600 1 300 100 60 10000'));
    const patched = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"maxMemory":"256mb"}}']);
    expect(patched.code, patched.stderr).toBe(0);
    const after = await eventually(
      'the new generation observed',
      async () => {
        const o = await waitForReady(e2e, NS, NAME, 60_000, 6);
        return (o.status as { observedGeneration?: number }).observedGeneration === o.metadata!.generation &&
          o.metadata!.generation! > before.metadata!.generation!
          ? o
          : undefined;
      },
      60_000,
      500,
    );
    for (const n of statusNodes(after)) {
      expect(await withNode(n, (r) => r.call('CONFIG', 'GET', 'maxmemory')), n.pod).toEqual(['maxmemory', String(256 * 1024 * 1024)]);
      expect(await withNode(n, (r) => r.call('CONFIG', 'GET', 'save')), n.pod).toEqual(['save', '']);
    }
    expect((await redisServers(statusNodes(after).map((n) => n.port))).map((p) => p.pid).sort()).toEqual(pids);
    const cm = await e2e.platform.kube.get('v1', 'ConfigMap', `${NAME}-config`, NS);
    expect((cm!.data as Record<string, string>)['redis.conf']).toContain('maxmemory 256mb');
  }, 120_000);

  it('a spec the CRD refuses gets a 422 naming the field', async () => {
    const bad = exampleCluster({ name: 'too-few', namespace: NS, spec: { basePort, masters: 2 } });
    const res = await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(bad));
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/is invalid/);
    expect(res.stderr).toContain('spec.masters');
    const raw = await fetch(`${e2e.platform.urls.api}/apis/redis.redis/v1beta1/namespaces/${NS}/redisclusters`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(bad),
    });
    expect(raw.status).toBe(422);
    expect(await raw.text()).toContain('spec.masters');
  });

  it('a spec the operator cannot honour ends Ready=False with the reason and a Warning Event', async () => {
    const port = await freeBasePort(6);
    const obj = exampleCluster({ name: 'no-secret', namespace: NS, spec: { basePort: port, passwordSecret: { name: 'absent-secret' } } });
    const res = await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
    expect(res.code, res.stderr).toBe(0);
    const cr = await eventually(
      'Ready=False SecretMissing',
      async () => {
        const o = await e2e.getCluster(NS, 'no-secret');
        return condition(o, 'Ready')?.reason === 'SecretMissing' ? o : undefined;
      },
      60_000,
      500,
    );
    expect(condition(cr, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretMissing' });
    expect(condition(cr, 'Ready')!.message).toContain('absent-secret');
    const events = await eventually(
      'a SecretMissing Event',
      async () => {
        const list = await e2e.platform.kube.list('v1', 'Event', NS);
        const mine = list.items.filter(
          (e) => (e.involvedObject as { name?: string })?.name === 'no-secret' && e.reason === 'SecretMissing',
        );
        return mine.length ? mine : undefined;
      },
      30_000,
      500,
    );
    expect(events[0]!.type).toBe('Warning');
    expect(await clusterPods(e2e, NS, 'no-secret')).toHaveLength(0);
    const del = await e2e.kubectl(['delete', 'rediscluster', 'no-secret', '-n', NS, '--wait=false']);
    expect(del.code).toBe(0);
    await eventually('no-secret to be gone', async () => (await e2e.getCluster(NS, 'no-secret')) === undefined, 60_000, 500);
  });

  it('Pods no node can take end Ready=False Unschedulable with a Warning Event, and no Redis process', async () => {
    const port = await freeBasePort(6);
    const obj = exampleCluster({ name: 'nowhere', namespace: NS, spec: { basePort: port, nodeSelector: { disktype: 'none-has-this' } } });
    const res = await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(obj));
    expect(res.code, res.stderr).toBe(0);
    const cr = await eventually(
      'Ready=False Unschedulable',
      async () => {
        const o = await e2e.getCluster(NS, 'nowhere');
        return condition(o, 'Ready')?.reason === 'Unschedulable' ? o : undefined;
      },
      60_000,
      500,
    );
    expect(condition(cr, 'Ready')!.message).toMatch(/cannot be placed/);
    await eventually(
      'an Unschedulable Event',
      async () => {
        const list = await e2e.platform.kube.list('v1', 'Event', NS);
        return list.items.some(
          (e) => (e.involvedObject as { name?: string })?.name === 'nowhere' && e.reason === 'Unschedulable' && e.type === 'Warning',
        );
      },
      30_000,
      500,
    );
    expect(await redisServers(Array.from({ length: 6 }, (_, i) => port + i))).toHaveLength(0);
    const del = await e2e.kubectl(['delete', 'rediscluster', 'nowhere', '-n', NS, '--wait=false']);
    expect(del.code).toBe(0);
    await eventually('nowhere to be gone', async () => (await e2e.getCluster(NS, 'nowhere')) === undefined, 60_000, 500);
  });

  it('with passwordSecret every node requires the password and the operator still forms the cluster', async () => {
    await e2e.platform.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'redis-auth', namespace: NS },
      stringData: { password: 's3cret-pw' },
    });
    const { ready, basePort: port } = await applyCluster(e2e, {
      name: 'locked',
      namespace: NS,
      spec: { passwordSecret: { name: 'redis-auth' } },
    });
    const node = statusNodes(ready)[0]!;
    const cli = (args: string[]) =>
      new Promise<string>((resolve) =>
        execFile('redis-cli', ['-h', node.ip, '-p', String(node.port), ...args], (_e, stdout, stderr) => resolve(stdout + stderr)),
      );
    expect(await cli(['CLUSTER', 'INFO'])).toMatch(/NOAUTH/);
    expect(await cli(['--no-auth-warning', '-a', 's3cret-pw', 'CLUSTER', 'INFO'])).toContain('cluster_state:ok');
    // An ioredis client without the password: its HELLO is refused, so connecting fails.
    await expect(withNode(node, (r) => r.ping())).rejects.toThrow(/Connection is closed/);
    expect(await withNode(node, (r) => r.ping(), { password: 's3cret-pw' })).toBe('PONG');
    const counted = await withClusterClient(
      ready,
      async (client) => {
        await writeKeys(client, 'locked', 200);
        return countKeys(client, 'locked', 200);
      },
      's3cret-pw',
    );
    expect(counted).toBe(200);
    const del = await e2e.kubectl(['delete', 'rediscluster', 'locked', '-n', NS, '--wait=false']);
    expect(del.code).toBe(0);
    await eventually('locked to be gone', async () => (await e2e.getCluster(NS, 'locked')) === undefined, 60_000, 500);
    await eventually(
      'its redis-server processes to end',
      async () => (await redisServers(Array.from({ length: 6 }, (_, i) => port + i))).length === 0,
      60_000,
      500,
    );
  }, 240_000);
});

describe('reconcile: event delivery', () => {
  it('the same event twice, a stale one and one out of order change nothing beyond one delivery', async () => {
    const before = await waitForReady(e2e, NS, NAME, 60_000, 6);
    await withClusterClient(before, (client) => writeKeys(client, 'events', 300));
    const podsBefore = (await clusterPods(e2e, NS, NAME)).map((p) => `${p.metadata!.name}/${p.metadata!.uid}`).sort();
    const idsBefore = await nodeIds(before);
    const url = e2e.platform.serving.serviceUrl('redis-operator', 'reconcile');
    const api = e2e.platform.urls.api;
    const ref = (kind: string, apiVersion: string, name: string) => ({
      data: { apiVersion, kind, name, namespace: NS },
      extensions: { kind, apiversion: apiVersion, name, namespace: NS },
    });
    const clusterUpdate = {
      type: 'dev.knative.apiserver.ref.update',
      source: api,
      id: 'dup-1',
      ...ref('RedisCluster', 'redis.redis/v1beta1', NAME),
    };
    const sends = [
      clusterUpdate,
      clusterUpdate,
      // A Pod deletion seen late: the Pod is there again.
      { type: 'dev.knative.apiserver.ref.delete', source: api, id: 'stale-pod', ...ref('Pod', 'v1', `${NAME}-0`) },
      // Out of order: an add after updates, and a finished reshard of an old generation.
      { type: 'dev.knative.apiserver.ref.add', source: api, id: 'late-add', ...ref('RedisCluster', 'redis.redis/v1beta1', NAME) },
      {
        type: 'redis.redis.reshard.completed.v1',
        source: '/redis-operator/reshard',
        id: 'old-reshard',
        data: { cluster: { namespace: NS, name: NAME }, generation: 0, outcome: 'succeeded' },
        extensions: { rcnamespace: NS, rcname: NAME },
      },
      // Not ours: a Pod of a cluster that does not exist.
      { type: 'dev.knative.apiserver.ref.update', source: api, id: 'foreign', ...ref('Pod', 'v1', 'nosuchcluster-3') },
    ];
    for (const e of sends) {
      const res = await postEvent(url, e);
      expect(res.status, `${e.type} ${e.id}: ${res.body}`).toBe(202);
    }
    const poison = await postEvent(url, { type: 'dev.knative.apiserver.ref.update', source: api, id: 'bad', data: { kind: 'Pod' } });
    expect(poison.status).toBe(400);

    const after = await waitForReady(e2e, NS, NAME, 60_000, 6);
    expect(after.metadata!.generation).toBe(before.metadata!.generation);
    expect(JSON.stringify(after.status)).toBe(JSON.stringify(before.status));
    expect((await clusterPods(e2e, NS, NAME)).map((p) => `${p.metadata!.name}/${p.metadata!.uid}`).sort()).toEqual(podsBefore);
    expect(await nodeIds(after)).toEqual(idsBefore);
    expect(await withClusterClient(after, (client) => countKeys(client, 'events', 300))).toBe(300);
  }, 120_000);
});
