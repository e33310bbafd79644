// The NetworkPolicy reconcile writes for a RedisCluster when the chart turns it on, as the API
// server stores it, and its end with the cluster (owner reference, garbage collection). Whether a
// network plugin enforces it is outside what this repository can run.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { reconcileCluster, type ReconcileDeps } from '../../functions/reconcile/reconcile.js';
import { createEventRecorder, Kube } from '../../shared/kube/index.js';
import { startApiWithClusterCrd, type TestApi } from '../helpers/platform-api.js';

const ref = { namespace: 'shop', name: 'rc-np' };
const policyRef: V1NetworkPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { ...ref } };

let api: TestApi;
let kube: Kube;
let deps: ReconcileDeps;

beforeAll(async () => {
  const started = await startApiWithClusterCrd();
  api = started.api;
  kube = started.kube;
  await kube.core.createNamespace({ body: { metadata: { name: ref.namespace } } });
  deps = {
    kube,
    recorder: createEventRecorder(kube, 'redis-operator-reconcile'),
    log: pino({ level: 'silent' }),
    holder: 'test',
    source: 'test',
    // No kubelet here: the Pods never start, so the pass ends at its budget.
    passBudgetMs: 300,
    networkPolicy: { operatorNamespace: 'redis-operator', clientLabels: { 'app.kubernetes.io/part-of': 'shop' } },
  };
});

afterAll(async () => {
  await api?.close();
});

describe('the NetworkPolicy of a RedisCluster', () => {
  it('is written with the nodes, functions and client peers on the Redis, bus and exporter ports, and goes with the cluster', async () => {
    await kube.custom.createNamespacedCustomObject({
      group: 'redis.redis',
      version: 'v1beta1',
      plural: 'redisclusters',
      namespace: ref.namespace,
      body: {
        apiVersion: 'redis.redis/v1beta1',
        kind: 'RedisCluster',
        metadata: ref,
        spec: { masters: 3, replicas: 0, maxMemory: '64mb', basePort: 7000 },
      },
    });
    await reconcileCluster(ref, deps);

    // Read as stored, not through the client's model classes (which rename `from`).
    const res = await fetch(`${api.url}/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies/rc-np`);
    expect(res.status).toBe(200);
    const policy = (await res.json()) as V1NetworkPolicy;
    expect(policy.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'RedisCluster', name: 'rc-np', controller: true });
    const nodes = { 'app.kubernetes.io/name': 'redis-cluster', 'redis.redis/cluster': 'rc-np' };
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: expect.objectContaining(nodes) },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: expect.objectContaining(nodes) } }],
          ports: [
            { protocol: 'TCP', port: 7000, endPort: 7999 },
            { protocol: 'TCP', port: 17000, endPort: 17999 },
          ],
        },
        {
          from: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'redis-operator' } },
              podSelector: {
                matchExpressions: [{ key: 'serving.knative.dev/service', operator: 'In', values: ['reconcile', 'reshard', 'discovery'] }],
              },
            },
          ],
          ports: [{ protocol: 'TCP', port: 7000, endPort: 7999 }],
        },
        {
          from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'shop' } } }],
          ports: [
            { protocol: 'TCP', port: 7000, endPort: 7999 },
            { protocol: 'TCP', port: 12000, endPort: 12999 },
          ],
        },
      ],
    });

    // Unchanged, the next pass leaves it alone.
    await reconcileCluster(ref, deps);
    expect((await kube.read(policyRef))!.metadata?.resourceVersion).toBe(policy.metadata?.resourceVersion);

    await kube.custom.deleteNamespacedCustomObject({ group: 'redis.redis', version: 'v1beta1', plural: 'redisclusters', ...ref });
    await reconcileCluster(ref, deps);
    const deadline = Date.now() + 10_000;
    while ((await kube.read(policyRef)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await kube.read(policyRef)).toBeUndefined();
  }, 30_000);
});
