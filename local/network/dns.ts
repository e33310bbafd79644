// The platform's cluster DNS for Services: the names a Pod's resolver tries (its namespace's
// search path, ndots:5, as kubelet writes resolv.conf) and what each resolves to — the cluster
// IP, or for a headless Service the ready addresses of its Endpoints.
import type { KubeRest } from '../apiserver/client.js';

type Rec = Record<string, any>;

export const CLUSTER_DOMAIN = 'cluster.local';

/** The fully qualified names tried for `host`, in order, from a Pod in `namespace`. */
export function searchNames(host: string, namespace?: string, clusterDomain = CLUSTER_DOMAIN): string[] {
  const name = host.toLowerCase();
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const search = [...(namespace ? [`${namespace}.svc.${clusterDomain}`] : []), `svc.${clusterDomain}`, clusterDomain];
  const expanded = search.map((domain) => `${name}.${domain}`);
  const dots = name.split('.').length - 1;
  return dots >= 5 ? [name, ...expanded] : [...expanded, name];
}

/** `<service>.<namespace>.svc.<cluster domain>` -> the Service it names. */
export function serviceOfName(fqdn: string, clusterDomain = CLUSTER_DOMAIN): { name: string; namespace: string } | undefined {
  const suffix = `.svc.${clusterDomain}`;
  if (!fqdn.endsWith(suffix)) return undefined;
  const labels = fqdn.slice(0, -suffix.length).split('.');
  return labels.length === 2 && labels.every(Boolean) ? { name: labels[0]!, namespace: labels[1]! } : undefined;
}

/** A Service's A records: its cluster IP, or for a headless one its ready endpoints. */
export function serviceAddresses(service: Rec, endpoints?: Rec): string[] {
  const spec = service.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  if (spec.clusterIP && spec.clusterIP !== 'None') return [String(spec.clusterIP)];
  const ips = (endpoints?.subsets ?? []).flatMap((s: Rec) => (s.addresses ?? []).map((a: Rec) => String(a.ip)));
  return [...new Set<string>(ips)];
}

export interface ResolveOptions {
  /** The caller's namespace: a bare Service name needs it. */
  namespace?: string;
  clusterDomain?: string;
  /** Endpoints, for headless Services. */
  endpoints?: Rec[];
}

/** What `host` resolves to among `services`; empty when it names none of them. */
export function resolveServiceName(host: string, services: Rec[], opts: ResolveOptions = {}): string[] {
  for (const fqdn of searchNames(host, opts.namespace, opts.clusterDomain)) {
    const ref = serviceOfName(fqdn, opts.clusterDomain);
    if (!ref) continue;
    const svc = services.find((s) => s.metadata?.name === ref.name && s.metadata?.namespace === ref.namespace);
    if (!svc) continue;
    const ep = opts.endpoints?.find((e) => e.metadata?.name === ref.name && e.metadata?.namespace === ref.namespace);
    return serviceAddresses(svc, ep);
  }
  return [];
}

export interface ClusterDns {
  /** The first address `host` resolves to from a Pod in `namespace`, read from the API server now. */
  resolve(host: string, namespace?: string): Promise<string | undefined>;
  /** The URL with its host resolved (unchanged when the host names no Service). */
  resolveUrl(url: string, namespace?: string): Promise<string>;
}

export function clusterDns(kube: KubeRest, clusterDomain = CLUSTER_DOMAIN): ClusterDns {
  const resolve = async (host: string, namespace?: string): Promise<string | undefined> => {
    for (const fqdn of searchNames(host, namespace, clusterDomain)) {
      const ref = serviceOfName(fqdn, clusterDomain);
      if (!ref) continue;
      const svc = await kube.get('v1', 'Service', ref.name, ref.namespace);
      if (!svc) continue;
      const headless = svc.spec?.clusterIP === 'None';
      const ep = headless ? await kube.get('v1', 'Endpoints', ref.name, ref.namespace) : undefined;
      return serviceAddresses(svc, ep)[0];
    }
    return undefined;
  };
  return {
    resolve,
    async resolveUrl(url, namespace) {
      const u = new URL(url);
      const ip = await resolve(u.hostname, namespace);
      if (ip) u.hostname = ip;
      return u.toString();
    },
  };
}
