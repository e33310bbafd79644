// persistence.enabled: each node keeps nodes.conf and its data on a claim `<cluster>-<i>-data`, so a
// replaced Pod comes back as the same node; deleting the cluster deletes the claims.
import { describe, expect, it } from 'vitest';
import { applyCluster, clusterClient, countKeys, eventually, statusNodes, useE2E, waitForReady, writeKeys } from '../helpers/e2e.js';

const NS = 'kept';
const NAME = 'durable';
const e2e = useE2E({ namespaces: [NS] });

const claims = async () => (await e2e.platform.kube.list('v1', 'PersistentVolumeClaim', NS)).items.map((c) => c.metadata!.name!).sort();

describe('reconcile: persistence', () => {
  it('a replaced Pod keeps its node id and data; deleting the cluster deletes the claims', async () => {
    const { ready } = await applyCluster(e2e, { name: NAME, namespace: NS, spec: { persistence: { enabled: true, size: '1Gi' } } });
    expect(await claims()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${NAME}-${i}-data`));
    const client = clusterClient(ready);
    await writeKeys(client, 'durable', 500);
    client.disconnect();

    const replica = statusNodes(ready).find((n) => n.role === 'replica')!;
    const oldUid = (await e2e.platform.kube.get('v1', 'Pod', replica.pod, NS))!.metadata!.uid;
    const deleted = await e2e.kubectl(['delete', 'pod', replica.pod, '-n', NS, '--wait=false']);
    expect(deleted.code, deleted.stderr).toBe(0);
    await eventually(
      'the replacement Pod',
      async () => {
        const p = await e2e.platform.kube.get('v1', 'Pod', replica.pod, NS);
        return p && p.metadata!.uid !== oldUid;
      },
      60_000,
      250,
    );
    const after = await eventually(
      'the same node back as a replica',
      async () => {
        const o = await waitForReady(e2e, NS, NAME, 90_000, 6);
        const again = statusNodes(o).find((n) => n.pod === replica.pod);
        return again?.id === replica.id && again.role === 'replica' ? o : undefined;
      },
      120_000,
      500,
    );
    expect(await claims()).toHaveLength(6);
    const check = clusterClient(after);
    expect(await countKeys(check, 'durable', 500)).toBe(500);
    check.disconnect();

    const gone = await e2e.kubectl(['delete', 'rediscluster', NAME, '-n', NS, '--wait=false']);
    expect(gone.code).toBe(0);
    await eventually('the claims to be deleted', async () => (await claims()).length === 0, 90_000, 500);
  }, 300_000);
});
