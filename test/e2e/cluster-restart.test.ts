// Every Pod of a cluster deleted at once. With persistence the nodes come back from their claims
// (nodes.conf and the append-only file) with their ids and slots and, in pod-network mode, new
// addresses; reconcile re-meets them and the cluster is Ready with every key. Without persistence
// the data is gone: the loss is reported and nothing is formed until spec.allowDataLoss is set.
import { describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import type { KubeObject } from '../../local/apiserver/client.js';
import {
  applyCluster,
  clusterPods,
  condition,
  eventually,
  podIsReady,
  statusNodes,
  useE2E,
  waitForReady,
  withClusterClient,
  withNode,
} from '../helpers/e2e.js';

const NS = 'restart';
const KEYS = 2000;
const e2e = useE2E({ namespaces: [NS], pingIntervalMs: 5000 });

/** Writes `count` keys and answers the indices whose SET was acknowledged. */
async function writeAcknowledged(client: Cluster, prefix: string, count: number): Promise<number[]> {
  const acked: number[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) => i + j);
    const replies = await Promise.allSettled(batch.map((k) => client.set(`${prefix}:${k}`, `v:${k}`)));
    replies.forEach((r, j) => {
      if (r.status === 'fulfilled' && r.value === 'OK') acked.push(batch[j]!);
    });
  }
  return acked;
}

/** The acknowledged keys that do not read back with their value. */
async function missingKeys(client: Cluster, prefix: string, acked: number[]): Promise<number[]> {
  const values = await Promise.all(acked.map((k) => client.get(`${prefix}:${k}`)));
  return acked.filter((k, i) => values[i] !== `v:${k}`);
}

/** Deletes every Pod of the cluster at once, as a person would; answers the deleted Pods' uids. */
async function deleteEveryPod(name: string): Promise<Set<string>> {
  const uids = new Set((await clusterPods(e2e, NS, name)).map((p) => p.metadata!.uid!));
  const deleted = await e2e.kubectl(['delete', 'pods', '-n', NS, '-l', `redis.redis/cluster=${name}`, '--wait=false']);
  expect(deleted.code, deleted.stderr).toBe(0);
  return uids;
}

/** Every Pod replaced (none of the old uids left) and running again. */
async function waitForReplacedPods(name: string, old: Set<string>, count: number): Promise<KubeObject[]> {
  return eventually(
    'every Pod to be replaced and ready',
    async () => {
      const pods = await clusterPods(e2e, NS, name);
      const fresh = pods.filter((p) => !old.has(p.metadata!.uid!) && !p.metadata!.deletionTimestamp);
      return fresh.length === count && pods.length === count && fresh.every(podIsReady) ? fresh : undefined;
    },
    120_000,
    250,
  );
}

/** Ready again for its generation, listing the replaced Pods' addresses. */
async function waitForReadyAt(name: string, pods: KubeObject[], timeoutMs: number): Promise<KubeObject> {
  const addresses = new Set(pods.map((p) => p.status!.podIP as string));
  return eventually(
    'Ready at the new addresses',
    async () => {
      const obj = await waitForReady(e2e, NS, name, 5000, pods.length).catch(() => undefined);
      return obj && statusNodes(obj).every((n) => addresses.has(n.ip)) ? obj : undefined;
    },
    timeoutMs,
    500,
  );
}

async function persistedRestart(name: string, hostNetwork: boolean): Promise<void> {
  const { ready } = await applyCluster(e2e, {
    name,
    namespace: NS,
    spec: { hostNetwork, persistence: { enabled: true, size: '1Gi' } },
  });
  const before = statusNodes(ready);
  const acked = await withClusterClient(ready, (c) => writeAcknowledged(c, name, KEYS));
  expect(acked.length).toBe(KEYS);

  const deletedAt = Date.now();
  const old = await deleteEveryPod(name);
  const pods = await waitForReplacedPods(name, old, before.length);
  const again = await waitForReadyAt(name, pods, 180_000);
  console.log(`${name}: every Pod deleted -> Ready again after ${Date.now() - deletedAt} ms`);

  // The same nodes, by id, with the same slots: they came back from their claims.
  const after = statusNodes(again);
  const slotsById = (nodes: typeof before) =>
    Object.fromEntries(nodes.filter((n) => n.slots?.length).map((n) => [n.id, [...n.slots!].sort().join(',')]));
  const idByPod = (nodes: typeof before) => Object.fromEntries(nodes.map((n) => [n.pod, n.id]));
  expect(idByPod(after)).toEqual(idByPod(before));
  // Each claim says which shard its node belongs to, as its Pod does.
  const { items: claims } = await e2e.platform.kube.list('v1', 'PersistentVolumeClaim', NS, `redis.redis/cluster=${name}`);
  const shardOf = Object.fromEntries(pods.map((p) => [p.metadata!.name!, p.metadata!.labels!['redis.redis/shard']]));
  expect(claims).toHaveLength(pods.length);
  for (const c of claims) expect(c.metadata!.labels!['redis.redis/shard']).toBe(shardOf[c.metadata!.name!.replace(/-data$/, '')]);
  expect(Object.values(slotsById(after)).sort()).toEqual(Object.values(slotsById(before)).sort());
  if (!hostNetwork) expect(after.some((n) => before.some((b) => b.id === n.id && b.ip !== n.ip))).toBe(true);
  expect(await withClusterClient(again, (c) => missingKeys(c, name, acked))).toEqual([]);
  const gone = await e2e.kubectl(['delete', 'rediscluster', name, '-n', NS, '--wait=false']);
  expect(gone.code).toBe(0);
}

/** The Warning Events with `reason` recorded on the cluster. */
async function clusterEvents(name: string, reason: string): Promise<{ type?: string; message?: string }[]> {
  const { items } = await e2e.platform.kube.list('v1', 'Event', NS);
  return items.filter(
    (e) => (e as { reason?: string }).reason === reason && (e as { involvedObject?: { name?: string } }).involvedObject?.name === name,
  ) as { type?: string; message?: string }[];
}

/** cluster_slots_assigned of every Pod's node, as each node says. */
async function slotsAssigned(pods: KubeObject[], port: (ordinal: number) => number): Promise<number[]> {
  return Promise.all(
    pods.map((p) => {
      const ordinal = Number(p.metadata!.name!.split('-').pop());
      return withNode({ ip: p.status!.podIP as string, port: port(ordinal) }, async (r) => {
        const info = String(await r.call('CLUSTER', 'INFO'));
        return Number(/cluster_slots_assigned:(\d+)/.exec(info)?.[1]);
      });
    }),
  );
}

describe('whole-cluster restart', () => {
  it('with persistence in pod-network mode: every Pod deleted at once, Ready again at new addresses with every key', async () => {
    await persistedRestart('podnet', false);
  }, 360_000);

  it('with persistence and host network: every Pod deleted at once, Ready again with every key', async () => {
    await persistedRestart('hostnet', true);
  }, 360_000);

  it('without persistence: the loss is reported and nothing formed; allowDataLoss forms an empty cluster, Ready and writable', async () => {
    const name = 'ephemeral';
    const { ready, basePort } = await applyCluster(e2e, { name, namespace: NS });
    const acked = await withClusterClient(ready, (c) => writeAcknowledged(c, name, 500));
    expect(acked.length).toBe(500);

    const deletedAt = Date.now();
    const old = await deleteEveryPod(name);
    const pods = await waitForReplacedPods(name, old, 6);
    const reported = await eventually(
      'the loss to be reported',
      async () => {
        const obj = await e2e.getCluster(NS, name);
        const warnings = await clusterEvents(name, 'AllNodesLost');
        return condition(obj, 'DataLoss')?.reason === 'AllNodesLost' && warnings.length > 0
          ? { obj: obj!, warning: warnings[0]! }
          : undefined;
      },
      90_000,
      500,
    );
    console.log(`${name}: every Pod deleted -> loss reported after ${Date.now() - deletedAt} ms`);
    const said = 'every node restarted without persistence; its data is gone. Set spec.allowDataLoss: true to form an empty cluster';
    expect(reported.warning.type).toBe('Warning');
    expect(reported.warning.message).toBe(said);
    expect(condition(reported.obj, 'DataLoss')).toMatchObject({ status: 'True', message: said });
    expect(condition(reported.obj, 'Ready')).toMatchObject({ status: 'False', reason: 'AllNodesLost', message: said });
    expect((reported.obj.status as { phase?: string }).phase).toBe('Degraded');

    // Nothing is formed while nobody allows the loss: several resyncs later, no node owns a slot.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await slotsAssigned(pods, (i) => basePort + i)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(condition(await e2e.getCluster(NS, name), 'Ready')?.reason).toBe('AllNodesLost');

    const patched = await e2e.kubectl([
      'patch',
      'rediscluster',
      name,
      '-n',
      NS,
      '--type',
      'merge',
      '-p',
      '{"spec":{"allowDataLoss":true}}',
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const formed = await waitForReady(e2e, NS, name, 120_000, 6);
    expect(await slotsAssigned(pods, (i) => basePort + i)).toEqual([16384, 16384, 16384, 16384, 16384, 16384]);
    const dataLoss = condition(formed, 'DataLoss');
    expect(dataLoss).toMatchObject({ status: 'True', reason: 'AllNodesLost' });
    expect(dataLoss?.message).toContain('an empty cluster was formed');
    await withClusterClient(formed, async (c) => {
      // The old keys are gone, not stale; the new cluster takes writes.
      expect(await c.get(`${name}:0`)).toBeNull();
      expect(await writeAcknowledged(c, 'after', 200)).toHaveLength(200);
      expect(
        await missingKeys(
          c,
          'after',
          Array.from({ length: 200 }, (_, i) => i),
        ),
      ).toEqual([]);
    });
  }, 360_000);
});
