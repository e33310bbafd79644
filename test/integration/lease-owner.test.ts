// The cluster's Lease is owned by the RedisCluster: deleting the cluster deletes its Lease, so no
// Lease is left behind in the namespace.
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kube, leaseNameFor, tryAcquireLease } from '../../shared/kube/index.js';
import { startTestApi, testCrd, waitFor, type TestApi } from '../helpers/platform-api.js';

const G = { group: 'redis.redis', version: 'v1beta1', plural: 'redisclusters' };
let api: TestApi;
let kube: Kube;

beforeAll(async () => {
  api = await startTestApi();
  kube = new Kube(api.kc);
  await api.kc
    .makeApiClient(CustomObjectsApi)
    .createClusterCustomObject({ group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', body: testCrd() });
});

afterAll(async () => {
  await api?.close();
});

describe('the cluster Lease', () => {
  it('is owned by its RedisCluster and goes with it', async () => {
    const ref = { namespace: 'default', name: 'owned' };
    const body = { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: ref, spec: { image: 'redis:7' } };
    const created = (await kube.custom.createNamespacedCustomObject({ ...G, namespace: ref.namespace, body })) as {
      metadata: { uid: string };
    };
    const held = await tryAcquireLease(kube, ref, { holder: 'test' });
    expect(held).toBeDefined();
    await held!.release();
    const lease = await kube.coordination.readNamespacedLease({ name: leaseNameFor(ref.name), namespace: ref.namespace });
    expect(lease.metadata?.ownerReferences).toEqual([
      expect.objectContaining({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: 'owned', uid: created.metadata.uid }),
    ]);
    await kube.custom.deleteNamespacedCustomObject({ ...G, ...ref });
    await waitFor('the Lease to be deleted with its cluster', async () => {
      const leases = await kube.coordination.listNamespacedLease({ namespace: ref.namespace });
      return !leases.items.some((l) => l.metadata?.name === leaseNameFor(ref.name));
    });
  });
});
