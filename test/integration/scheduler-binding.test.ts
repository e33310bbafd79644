// The scheduler against the real embedded API server: Node objects, binding through pods/binding,
// hostIP, Pending Pods with a reason, and retry when a place frees up.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScheduler } from '../../local/scheduler/index.js';
import { startTestApi, waitFor, type TestApi } from '../helpers/platform-api.js';

let api: TestApi;
let core: CoreV1Api;
let scheduler: { stop(): Promise<void> };

function pod(name: string, spec: Partial<V1Pod['spec']>, labels: Record<string, string>): V1Pod {
  return { metadata: { name, labels }, spec: { containers: [{ name: 'redis', image: 'redis:7' }], ...spec } };
}

const antiAffinity: Partial<V1Pod['spec']> = {
  affinity: {
    podAntiAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [
        { labelSelector: { matchLabels: { cluster: 'spread' } }, topologyKey: 'kubernetes.io/hostname' },
      ],
    },
  },
};

beforeAll(async () => {
  api = await startTestApi();
  core = api.kc.makeApiClient(CoreV1Api);
  scheduler = await startScheduler({ apiUrl: api.url, resyncMs: 60_000 });
});

afterAll(async () => {
  await scheduler?.stop();
  await api?.close();
});

describe('scheduler', () => {
  it('registers the virtual nodes with their InternalIP', async () => {
    const list = await core.listNode();
    expect(list.items.map((n) => [n.metadata?.name, n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address])).toEqual([
      ['local-node-1', '127.0.0.2'],
      ['local-node-2', '127.0.0.3'],
      ['local-node-3', '127.0.0.4'],
    ]);
    expect(list.items[0]!.metadata?.labels?.['topology.kubernetes.io/zone']).toBe('local-zone-1');
  });

  it('puts three anti-affine Pods on three nodes and keeps a fourth Pending with the reason', async () => {
    await core.createNamespace({ body: { metadata: { name: 'spread' } } });
    for (const i of [1, 2, 3])
      await core.createNamespacedPod({ namespace: 'spread', body: pod(`r${i}`, antiAffinity, { cluster: 'spread' }) });
    const bound = await waitFor('three Pods bound', async () => {
      const pods = (await core.listNamespacedPod({ namespace: 'spread' })).items;
      return pods.every((p) => p.spec?.nodeName && p.status?.hostIP) && pods.length === 3 ? pods : undefined;
    });
    expect(new Set(bound.map((p) => p.spec?.nodeName)).size).toBe(3);
    for (const p of bound) {
      expect(p.status?.hostIP).toBe(
        { 'local-node-1': '127.0.0.2', 'local-node-2': '127.0.0.3', 'local-node-3': '127.0.0.4' }[p.spec!.nodeName!],
      );
      expect(p.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status).toBe('True');
    }

    await core.createNamespacedPod({ namespace: 'spread', body: pod('r4', antiAffinity, { cluster: 'spread' }) });
    const pending = await waitFor('the fourth marked unschedulable', async () => {
      const p = await core.readNamespacedPod({ name: 'r4', namespace: 'spread' });
      return p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? p : undefined;
    });
    expect(pending.spec?.nodeName).toBeUndefined();
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({
      reason: 'Unschedulable',
      message: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.",
    });
    const events = await core.listNamespacedEvent({ namespace: 'spread', fieldSelector: 'involvedObject.name=r4,reason=FailedScheduling' });
    expect(events.items.length).toBeGreaterThanOrEqual(1);

    // A place frees up: the Pending Pod takes it.
    const freed = bound[0]!.spec!.nodeName!;
    await core.deleteNamespacedPod({ name: bound[0]!.metadata!.name!, namespace: 'spread', gracePeriodSeconds: 0 });
    const moved = await waitFor(
      'the fourth bound',
      async () => (await core.readNamespacedPod({ name: 'r4', namespace: 'spread' })).spec?.nodeName,
    );
    expect(moved).toBe(freed);
  });

  it('never puts two host-network Pods with the same port on one node', async () => {
    await core.createNamespace({ body: { metadata: { name: 'hostnet' } } });
    const hostPod = (name: string): V1Pod =>
      pod(
        name,
        {
          hostNetwork: true,
          containers: [{ name: 'redis', image: 'redis:7', ports: [{ containerPort: 10000 }, { containerPort: 20000 }] }],
        },
        { app: name },
      );
    for (const name of ['h1', 'h2', 'h3', 'h4']) await core.createNamespacedPod({ namespace: 'hostnet', body: hostPod(name) });
    const settled = await waitFor('three bound and one refused', async () => {
      const pods = (await core.listNamespacedPod({ namespace: 'hostnet' })).items;
      const bound = pods.filter((p) => p.spec?.nodeName);
      const refused = pods.filter((p) => p.status?.conditions?.some((c) => c.reason === 'Unschedulable'));
      return bound.length === 3 && refused.length === 1 ? { bound, refused } : undefined;
    });
    expect(new Set(settled.bound.map((p) => p.spec?.nodeName)).size).toBe(3);
    expect(settled.refused[0]!.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message).toBe(
      "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.",
    );
  });

  it('leaves Pods of another scheduler alone', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('foreign', { schedulerName: 'someone-else' }, {}) });
    await core.createNamespacedPod({ namespace: 'default', body: pod('mine', {}, {}) });
    await waitFor('mine bound', async () => (await core.readNamespacedPod({ name: 'mine', namespace: 'default' })).spec?.nodeName);
    expect((await core.readNamespacedPod({ name: 'foreign', namespace: 'default' })).spec?.nodeName).toBeUndefined();
  });
});
