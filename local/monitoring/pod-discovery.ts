// Debian's prometheus is built without Kubernetes service discovery (its client library is not
// packaged), so the platform stands in for it: an HTTP service discovery endpoint (Prometheus's
// http_sd_configs) answering with the target groups kubernetes_sd role pod would find, same
// `__meta_kubernetes_*` labels. The Prometheus Operator's relabelling then applies unchanged.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeRest, type KubeObject } from '../apiserver/client.js';
import { sanitizeLabelName } from './prometheus-config.js';

type Labels = Record<string, string>;
export interface TargetGroup {
  targets: string[];
  labels: Labels;
}

function podLabels(pod: KubeObject): Labels {
  const md = pod.metadata ?? {};
  const labels: Labels = {
    __meta_kubernetes_namespace: md.namespace ?? '',
    __meta_kubernetes_pod_name: md.name ?? '',
    __meta_kubernetes_pod_ip: pod.status?.podIP ?? '',
    __meta_kubernetes_pod_ready: String(
      pod.status?.conditions?.find((c: { type: string }) => c.type === 'Ready')?.status ?? 'unknown',
    ).toLowerCase(),
    __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
    __meta_kubernetes_pod_node_name: pod.spec?.nodeName ?? '',
    __meta_kubernetes_pod_host_ip: pod.status?.hostIP ?? '',
    __meta_kubernetes_pod_uid: md.uid ?? '',
  };
  for (const [k, v] of Object.entries((md.labels ?? {}) as Labels)) {
    labels[`__meta_kubernetes_pod_label_${sanitizeLabelName(k)}`] = v;
    labels[`__meta_kubernetes_pod_labelpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  for (const [k, v] of Object.entries((md.annotations ?? {}) as Labels)) {
    labels[`__meta_kubernetes_pod_annotation_${sanitizeLabelName(k)}`] = v;
    labels[`__meta_kubernetes_pod_annotationpresent_${sanitizeLabelName(k)}`] = 'true';
  }
  const owner = ((md.ownerReferences ?? []) as { controller?: boolean; kind: string; name: string }[]).find((o) => o.controller);
  if (owner) {
    labels.__meta_kubernetes_pod_controller_kind = owner.kind;
    labels.__meta_kubernetes_pod_controller_name = owner.name;
  }
  return labels;
}

/**
 * What kubernetes_sd role pod finds for one Pod: a target per container port (`<podIP>:<port>`), a
 * bare `<podIP>` for a container without ports; none while the Pod has no IP.
 */
export function podTargetGroups(pod: KubeObject): TargetGroup[] {
  const ip = pod.status?.podIP as string | undefined;
  if (!ip) return [];
  const base = podLabels(pod);
  const groups: TargetGroup[] = [];
  const statuses = (pod.status?.containerStatuses ?? []) as { name: string; containerID?: string }[];
  for (const c of (pod.spec?.containers ?? []) as { name: string; image?: string; ports?: Record<string, any>[] }[]) {
    const container: Labels = {
      ...base,
      __meta_kubernetes_pod_container_name: c.name,
      __meta_kubernetes_pod_container_image: c.image ?? '',
      __meta_kubernetes_pod_container_init: 'false',
      __meta_kubernetes_pod_container_id: statuses.find((s) => s.name === c.name)?.containerID ?? '',
    };
    if (!c.ports?.length) groups.push({ targets: [ip], labels: container });
    for (const p of c.ports ?? []) {
      groups.push({
        targets: [`${ip}:${p.containerPort}`],
        labels: {
          ...container,
          __meta_kubernetes_pod_container_port_name: p.name ?? '',
          __meta_kubernetes_pod_container_port_number: String(p.containerPort),
          __meta_kubernetes_pod_container_port_protocol: p.protocol ?? 'TCP',
        },
      });
    }
  }
  return groups;
}

export interface PodDiscovery {
  /** GET `<url>/pods[?namespace=a&namespace=b]`: the target groups of those namespaces' Pods. */
  url: string;
  stop(): Promise<void>;
}

export async function startPodDiscovery(opts: { apiUrl: string; host: string; log: (m: string) => void }): Promise<PodDiscovery> {
  const kube = new KubeRest(opts.apiUrl);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://discovery');
    if (req.method !== 'GET' || url.pathname !== '/pods') {
      res.writeHead(404).end();
      return;
    }
    const namespaces = url.searchParams.getAll('namespace');
    const lists = namespaces.length ? namespaces.map((ns) => kube.list('v1', 'Pod', ns)) : [kube.list('v1', 'Pod')];
    Promise.all(lists)
      .then((all) => {
        const groups = all.flatMap((l) => l.items).flatMap(podTargetGroups);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(groups));
      })
      .catch((err: Error) => {
        opts.log(`monitoring: pod discovery: ${err.message}`);
        // A failed refresh keeps Prometheus's previous targets, as a failed list does in kubernetes_sd.
        res.writeHead(503, { 'content-type': 'text/plain' }).end(err.message);
      });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host, () => resolve((server.address() as AddressInfo).port));
  });
  return {
    url: `http://${opts.host}:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
