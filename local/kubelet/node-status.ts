// The kubelet's part of its Nodes' status: the port its server listens on
// (status.daemonEndpoints.kubeletEndpoint.Port), which the API server reads to reach it for logs.
// The Nodes are registered by the scheduler, perhaps after the kubelet starts and again after a
// restart, so the kubelet watches them and writes the port whenever a Node of its own lacks it.
import { KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';

export function recordKubeletPort(kube: KubeRest, nodeNames: ReadonlySet<string>, port: number, log: (m: string) => void): WatchHandle {
  const check = (node: KubeObject): void => {
    const name = node.metadata?.name ?? '';
    if (!nodeNames.has(name) || node.status?.daemonEndpoints?.kubeletEndpoint?.Port === port) return;
    const status = { daemonEndpoints: { kubeletEndpoint: { Port: port } } };
    kube
      .patch('v1', 'Node', name, undefined, { status }, { subresource: 'status' })
      .catch((err: unknown) => log(`node ${name}: could not record the kubelet port: ${(err as Error).message}`));
  };
  return kube.watch('v1', 'Node', {
    onList: (items) => items.forEach(check),
    onEvent: (type, obj) => {
      if (type !== 'DELETED') check(obj);
    },
    onError: (err) => log(`node watch ended: ${(err as Error).message}`),
  });
}
