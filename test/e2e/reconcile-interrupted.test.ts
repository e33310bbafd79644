// What a reconcile pass killed mid-step leaves behind, taken up by the next pass:
// - its Lease, held by a writer that is gone: a pass that finds it waits it out rather than
//   dropping the event that woke it (the resync here is 10 minutes away, so only that pass can
//   attach the deleted Pod's replacement);
// - a node it MEETed but never told to REPLICATE: a master without slots in a shard that has a
//   master, which the next pass attaches as that master's replica.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { leaseNameFor } from '../../shared/kube/lease.js';
import { applyCluster, clusterPods, eventually, statusNodes, useE2E, waitForReady, withNode } from '../helpers/e2e.js';

const NS = 'lease-wait';
const NAME = 'held';
const LEASE_SECONDS = 15;
let ready: KubeObject;

const e2e = useE2E({ namespaces: [NS], pingIntervalMs: 600_000 }, async (e) => {
  ({ ready } = await applyCluster(e, { name: NAME, namespace: NS, spec: { masters: 3, replicas: 1 } }));
});

/** Kubernetes' MicroTime: RFC 3339 with microseconds. */
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** Another writer takes the cluster's Lease and dies: nobody renews or releases it. */
async function leaseTakenByADeadWriter(): Promise<number> {
  return eventually(
    'the Lease taken by another writer',
    async () => {
      const lease = await e2e.platform.kube.get('coordination.k8s.io/v1', 'Lease', leaseNameFor(NAME), NS);
      if (!lease) return undefined;
      const spec = (lease.spec ?? {}) as { holderIdentity?: string };
      if (spec.holderIdentity) return undefined; // a pass of the operator is still on it
      const now = new Date();
      const taken = {
        ...lease,
        spec: {
          holderIdentity: 'reconcile/a-node-that-died/1',
          leaseDurationSeconds: LEASE_SECONDS,
          acquireTime: microTime(now),
          renewTime: microTime(now),
        },
      };
      return e2e.platform.kube.replace(taken).then(
        () => now.getTime(),
        () => undefined,
      );
    },
    30_000,
    200,
  );
}

describe('reconcile after a pass cut short', () => {
  it('a replica Pod deleted while a dead writer holds the Lease is attached again once the Lease expires, not at the next resync', async () => {
    const replica = statusNodes(ready).find((n) => n.role === 'replica')!;
    const oldUid = (await clusterPods(e2e, NS, NAME)).find((p) => p.metadata!.name === replica.pod)!.metadata!.uid;
    const takenAt = await leaseTakenByADeadWriter();
    const deleted = await e2e.kubectl(['delete', 'pod', replica.pod, '-n', NS, '--wait=false']);
    expect(deleted.code, deleted.stderr).toBe(0);
    // Making the Pod needs no Lease; attaching its node to the shard does.
    const attached = await eventually(
      'the replacement attached to its shard',
      async () => {
        const pod = (await clusterPods(e2e, NS, NAME)).find((x) => x.metadata!.name === replica.pod);
        const obj = await e2e.getCluster(NS, NAME);
        const again = obj && statusNodes(obj).find((n) => n.pod === replica.pod);
        const ready = (obj?.status as { phase?: string } | undefined)?.phase === 'Ready';
        return pod && pod.metadata!.uid !== oldUid && ready && again && again.id !== replica.id ? again : undefined;
      },
      (LEASE_SECONDS + 30) * 1000,
      200,
    );
    const attachedAfter = Date.now() - takenAt;
    console.log(`Lease taken by a dead writer -> replacement attached and Ready after ${attachedAfter} ms`);
    // Not before the Lease expired: the other writer's Lease is honoured for its whole duration.
    expect(attachedAfter).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000);
    expect(attached.role).toBe('replica');
    expect(attached.masterId).toBe(replica.masterId);
    ready = await waitForReady(e2e, NS, NAME, 30_000, 6);
    expect(statusNodes(ready)).toHaveLength(6);
  }, 200_000);

  it('a node met but never made a replica (a master without slots in its shard) is attached to its shard', async () => {
    const replica = statusNodes(ready).find((n) => n.role === 'replica')!;
    const master = statusNodes(ready).find((n) => n.id === replica.masterId)!;
    // What a pass killed between attachReplica's MEET and its REPLICATE leaves: a new node id that
    // the cluster knows as a master owning nothing.
    const strandedId = await withNode(replica, async (r) => {
      await r.call('CLUSTER', 'RESET', 'HARD');
      await r.call('CLUSTER', 'MEET', master.ip, master.port);
      return String(await r.call('CLUSTER', 'MYID'));
    });
    await eventually(
      'the others to know the stranded node as a master',
      async () => withNode(master, async (r) => (String(await r.call('CLUSTER', 'NODES')).includes(`${strandedId} `) ? true : undefined)),
      20_000,
      200,
    );
    // The Broker redelivers the killed pass's event; a change to the cluster does as well here.
    const poked = await e2e.kubectl(['-n', NS, 'annotate', 'rediscluster', NAME, `test/poke=${Date.now()}`, '--overwrite']);
    expect(poked.code, poked.stderr).toBe(0);
    const attached = await eventually(
      'the stranded node attached to its shard',
      async () => {
        const obj = await waitForReady(e2e, NS, NAME, 60_000, 6);
        const again = statusNodes(obj).find((n) => n.pod === replica.pod);
        return again?.id === strandedId && again.role === 'replica' ? again : undefined;
      },
      60_000,
      500,
    );
    expect(attached.masterId).toBe(master.id);
  }, 120_000);
});
