// A pass that finds the cluster's Lease held by another writer waits for it rather than dropping
// the event that woke it: a writer that died holding the Lease (or one about to finish) would
// otherwise leave the work to the next resync. The resync here is 10 minutes away, so only the
// waiting pass can recreate the deleted Pod.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { leaseNameFor } from '../../shared/kube/lease.js';
import { applyCluster, clusterPods, eventually, statusNodes, useE2E, waitForReady } from '../helpers/e2e.js';

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

describe('reconcile and a Lease held by another writer', () => {
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
    const after = await waitForReady(e2e, NS, NAME, 30_000, 6);
    expect(statusNodes(after)).toHaveLength(6);
  }, 200_000);
});
