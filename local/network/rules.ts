// What kube-proxy programs, as data: the addresses and ports each Service is reached on, and the
// ready backends of a Service port. Pure, so the proxy only opens, moves and closes listeners.

type Rec = Record<string, any>;

export interface Route {
  /** `namespace/name` of the Service. */
  service: string;
  /** The Service port's name ('' when it has none): Endpoints ports carry the same name. */
  portName: string;
}

export interface ListenRule extends Route {
  /** `address:port`, unique among the rules. */
  key: string;
  address: string;
  port: number;
  /** Why this rule exists: the cluster IP, a node port, or a load balancer's port. */
  via: 'clusterIP' | 'nodePort' | 'loadBalancer';
}

export interface Backend {
  ip: string;
  port: number;
}

export const serviceKey = (o: Rec): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

/** The TCP listeners of one Service: cluster IP, node ports on every node and the host, a load balancer's port on the host. */
function rulesOf(svc: Rec, nodeAddresses: string[], host: string): ListenRule[] {
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') return [];
  const out: ListenRule[] = [];
  const add = (address: string, port: number, via: ListenRule['via'], portName: string) =>
    out.push({ key: `${address}:${port}`, address, port, via, service: serviceKey(svc), portName });
  const clusterIp = spec.clusterIP && spec.clusterIP !== 'None' ? String(spec.clusterIP) : undefined;
  for (const p of spec.ports ?? []) {
    if ((p.protocol ?? 'TCP') !== 'TCP') continue;
    const portName = String(p.name ?? '');
    if (clusterIp) add(clusterIp, p.port, 'clusterIP', portName);
    if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && p.nodePort) {
      for (const address of new Set([...nodeAddresses, host])) add(address, p.nodePort, 'nodePort', portName);
    }
    if (spec.type === 'LoadBalancer') add(host, p.port, 'loadBalancer', portName);
  }
  return out;
}

/**
 * Every listener the Services ask for. Where two ask for the same address and port (two load
 * balancers on one port), the older Service keeps it and the other is reported as a conflict.
 */
export function listenRules(services: Rec[], nodeAddresses: string[], host: string): { rules: ListenRule[]; conflicts: ListenRule[] } {
  const byAge = [...services].sort(
    (a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')) ||
      serviceKey(a).localeCompare(serviceKey(b)),
  );
  const rules = new Map<string, ListenRule>();
  const conflicts: ListenRule[] = [];
  for (const svc of byAge) {
    for (const rule of rulesOf(svc, nodeAddresses, host)) {
      const held = rules.get(rule.key);
      if (!held) rules.set(rule.key, rule);
      else if (held.service !== rule.service) conflicts.push(rule);
    }
  }
  return { rules: [...rules.values()], conflicts };
}

/** The ready addresses of a Service port, from its Endpoints (the port found by name, TCP only). */
export function readyBackends(endpoints: Rec | undefined, portName: string): Backend[] {
  const out: Backend[] = [];
  for (const subset of endpoints?.subsets ?? []) {
    const port = (subset.ports ?? []).find((p: Rec) => String(p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP');
    if (!port) continue;
    for (const a of subset.addresses ?? []) out.push({ ip: a.ip, port: port.port });
  }
  return out;
}
