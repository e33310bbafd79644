// The Pod discovery Prometheus's http_sd reads, against the real API server: Pods of the asked
// namespaces only, a target per container port once the Pod has an address, and a 404 elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../local/apiserver/index.js';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { startPodDiscovery, type PodDiscovery, type TargetGroup } from '../../local/monitoring/pod-discovery.js';

let api: { url: string; close(): Promise<void> };
let kube: KubeRest;
let discovery: PodDiscovery;

function pod(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: name } },
    spec: { containers: [{ name: 'exporter', image: 'exporter', ports: [{ name: 'metrics', containerPort: 15000 }] }] },
  };
}

async function targets(query = ''): Promise<TargetGroup[]> {
  const res = await fetch(`${discovery.url}/pods${query}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return (await res.json()) as TargetGroup[];
}

beforeAll(async () => {
  api = await startApiServer({ port: 0 });
  kube = new KubeRest(api.url);
  for (const ns of ['a', 'b']) await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await kube.create(pod('a', 'one'));
  await kube.create(pod('b', 'two'));
  discovery = await startPodDiscovery({ apiUrl: api.url, host: '127.0.0.1', log: () => undefined });
});

afterAll(async () => {
  await discovery?.stop();
  await api?.close();
});

describe('Pod discovery', () => {
  it('lists no target for a Pod without an address, then one per container port', async () => {
    expect(await targets()).toEqual([]);
    await kube.patchStatus(pod('a', 'one'), { podIP: '127.1.0.10', phase: 'Running' });
    await kube.patchStatus(pod('b', 'two'), { podIP: '127.1.0.11', phase: 'Running' });
    const all = await targets();
    expect(all.map((g) => g.targets[0]).sort()).toEqual(['127.1.0.10:15000', '127.1.0.11:15000']);
    expect(all.find((g) => g.labels.__meta_kubernetes_pod_name === 'one')!.labels).toMatchObject({
      __meta_kubernetes_namespace: 'a',
      __meta_kubernetes_pod_label_app: 'one',
      __meta_kubernetes_pod_container_port_name: 'metrics',
      __meta_kubernetes_pod_phase: 'Running',
    });
  });

  it('keeps to the namespaces asked for', async () => {
    const onlyB = await targets('?namespace=b');
    expect(onlyB.map((g) => g.labels.__meta_kubernetes_pod_name)).toEqual(['two']);
    const both = await targets('?namespace=a&namespace=b');
    expect(both).toHaveLength(2);
  });

  it('answers 404 for any other path', async () => {
    expect((await fetch(`${discovery.url}/nodes`)).status).toBe(404);
  });
});
