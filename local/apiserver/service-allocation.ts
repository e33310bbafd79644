// What kube-apiserver does to a v1 Service on create and update: its defaults, the checks of
// ValidateService that matter here, a cluster IP from the service range and node ports from the
// node port range (random, the upper part of each range first, as its allocators do), and the
// update rules (allocated values carried over, cluster IPs that may not change, node ports
// released when the type no longer needs them). What is allocated is what the stored Services
// hold, so a restart from the state file knows it and a deleted Service frees it.
import { ApiError, invalid, type StatusCause } from './errors.js';
import type { Obj, Store } from './store.js';

type Rec = Record<string, any>;

export const DEFAULT_SERVICE_CLUSTER_IP_RANGE = '127.96.0.0/16';
export const DEFAULT_SERVICE_NODE_PORT_RANGE = '30000-32767';

export interface ServiceRanges {
  /** kube-apiserver's --service-cluster-ip-range; loopback here, so the service proxy can bind it. */
  clusterIpRange?: string;
  /** kube-apiserver's --service-node-port-range. */
  nodePortRange?: string;
}

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Go's %#v of a value in a field error: strings quoted, lists as []string{...}. */
function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[]string{${v.map((s) => JSON.stringify(String(s))).join(', ')}}`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

const invalidValue = (field: string, value: unknown, detail: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${goValue(value)}: ${detail}`,
});

/**
 * Kubernetes' offset of the band kept for static (requested) values, min(max(min, size/step), max):
 * dynamic allocation looks above it first, so requested values rarely collide with picked ones.
 */
export function staticBand(size: number, min: number, max: number, step: number): number {
  if (size <= min) return 0;
  return Math.min(Math.max(Math.floor(size / step), min), max);
}

/** A free index of [0, size): a random one above `offset` first, then below it; undefined when full. */
export function pickFree(size: number, offset: number, used: (i: number) => boolean, random = Math.random): number | undefined {
  for (const [from, to] of [
    [offset, size],
    [0, offset],
  ] as const) {
    const span = to - from;
    if (span <= 0) continue;
    const start = Math.floor(random() * span);
    for (let k = 0; k < span; k++) {
      const i = from + ((start + k) % span);
      if (!used(i)) return i;
    }
  }
  return undefined;
}

class IpRange {
  readonly first: number;
  readonly size: number;

  constructor(readonly cidr: string) {
    const m = /^([\d.]+)\/(\d+)$/.exec(cidr);
    const base = m ? ipToInt(m[1]!) : undefined;
    const prefix = Number(m?.[2]);
    if (base === undefined || !(prefix >= 12 && prefix <= 30))
      throw new Error(`service cluster IP range: "${cidr}" is not an IPv4 CIDR between /12 and /30`);
    if (base >>> 24 !== 127) throw new Error(`service cluster IP range: "${cidr}" must be inside 127.0.0.0/8 so the host can bind it`);
    const span = 2 ** (32 - prefix);
    // The network and broadcast addresses are never handed out.
    this.first = base - (base % span) + 1;
    this.size = span - 2;
  }

  indexOf(ip: string): number | undefined {
    const n = ipToInt(ip);
    return n !== undefined && n >= this.first && n < this.first + this.size ? n - this.first : undefined;
  }

  at(i: number): string {
    return intToIp(this.first + i);
  }
}

class PortRange {
  readonly base: number;
  readonly size: number;

  constructor(readonly text: string) {
    const m = /^(\d+)-(\d+)$/.exec(text);
    const [lo, hi] = [Number(m?.[1]), Number(m?.[2])];
    if (!m || lo < 1 || hi > 65535 || lo > hi) throw new Error(`service node port range: "${text}" is not a range such as 30000-32767`);
    this.base = lo;
    this.size = hi - lo + 1;
  }

  contains(port: number): boolean {
    return port >= this.base && port < this.base + this.size;
  }
}

const needsClusterIp = (spec: Rec): boolean => spec.type !== 'ExternalName';
const needsNodePorts = (spec: Rec): boolean =>
  spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
const isHeadless = (spec: Rec): boolean => spec.clusterIP === 'None';
const sameList = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

function applyDefaults(spec: Rec): void {
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const p of spec.ports ?? []) {
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (!needsClusterIp(spec)) return;
  spec.internalTrafficPolicy ??= 'Cluster';
  // A headless Service without selector may carry any family, so it asks for both.
  const anyFamily = isHeadless(spec) && !Object.keys(spec.selector ?? {}).length;
  spec.ipFamilyPolicy ??= anyFamily ? 'RequireDualStack' : 'SingleStack';
  spec.ipFamilies ??= spec.ipFamilyPolicy === 'SingleStack' ? ['IPv4'] : ['IPv4', 'IPv6'];
}

function validateSpec(spec: Rec): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!SERVICE_TYPES.includes(spec.type)) {
    const supported = SERVICE_TYPES.map((s) => `"${s}"`).join(', ');
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.type',
      message: `Unsupported value: "${spec.type}": supported values: ${supported}`,
    });
  }
  const ports: Rec[] = spec.ports ?? [];
  if (ports.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName')
    causes.push({ reason: 'FieldValueRequired', field: 'spec.ports', message: 'Required value' });
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) causes.push({ reason: 'FieldValueRequired', field: `${at}.name`, message: 'Required value' });
    if (!(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535))
      causes.push(invalidValue(`${at}.port`, p.port, 'must be between 1 and 65535, inclusive'));
    if (!p.nodePort) return;
    if (spec.type === 'ClusterIP')
      causes.push({
        reason: 'FieldValueForbidden',
        field: `${at}.nodePort`,
        message: "Forbidden: may not be used when `type` is 'ClusterIP'",
      });
    const key = `${p.protocol}/${p.nodePort}`;
    if (nodePorts.has(key))
      causes.push({ reason: 'FieldValueDuplicate', field: `${at}.nodePort`, message: `Duplicate value: ${p.nodePort}` });
    nodePorts.add(key);
  });
  const ips: unknown[] = spec.clusterIPs ?? [];
  ips.forEach((ip, i) => {
    if (ip !== 'None' && ipToInt(String(ip)) === undefined)
      causes.push(invalidValue(`spec.clusterIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  return causes;
}

/** validateUpgradeDowngradeClusterIPs: once set, cluster IPs do not change (ExternalName aside). */
function immutableClusterIps(old: Rec, next: Rec): StatusCause[] {
  if (!needsClusterIp(old) || !needsClusterIp(next) || (isHeadless(old) && isHeadless(next))) return [];
  const before: string[] = old.clusterIPs ?? [];
  const after: string[] = next.clusterIPs ?? [];
  if (before.length && !after.length) return [invalidValue('spec.clusterIPs[0]', after, 'primary clusterIP can not be unset')];
  return before.flatMap((ip, i) =>
    after[i] !== undefined && after[i] !== ip ? [invalidValue(`spec.clusterIPs[${i}]`, after, 'may not change once set')] : [],
  );
}

export class ServiceAllocator {
  private readonly ips: IpRange;
  private readonly ports: PortRange;

  constructor(
    private readonly store: Store,
    ranges: ServiceRanges = {},
    private readonly random: () => number = Math.random,
  ) {
    this.ips = new IpRange(ranges.clusterIpRange ?? DEFAULT_SERVICE_CLUSTER_IP_RANGE);
    this.ports = new PortRange(ranges.nodePortRange ?? DEFAULT_SERVICE_NODE_PORT_RANGE);
  }

  /** The cluster IPs and node ports stored Services hold, but for the one being updated. */
  private held(exceptUid?: string): { ips: Set<string>; ports: Set<number> } {
    const ips = new Set<string>();
    const ports = new Set<number>();
    for (const [key, s] of this.store.entries()) {
      if (key !== '/services' || s.metadata.uid === exceptUid) continue;
      for (const ip of s.spec?.clusterIPs ?? [s.spec?.clusterIP]) if (ip) ips.add(ip);
      for (const p of s.spec?.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
    }
    return { ips, ports };
  }

  /** Defaults, checks and allocations of a new Service (422 as kube-apiserver words it). */
  admitCreate(o: Obj): void {
    const spec = (o.spec ??= {});
    if (!spec.clusterIP && spec.clusterIPs?.length) spec.clusterIP = spec.clusterIPs[0];
    if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];
    applyDefaults(spec);
    const causes = validateSpec(spec);
    if (causes.length) throw invalid('Service', '', o.metadata.name, causes);
    const held = this.held();
    if (needsClusterIp(spec)) this.assignClusterIp(o, held.ips);
    this.assignNodePorts(o, new Set(), held.ports);
    o.status = { loadBalancer: {} };
  }

  /** What an update keeps, checks and allocates; `next` replaces `existing` when this returns. */
  admitUpdate(existing: Obj, next: Obj): void {
    const old: Rec = existing.spec ?? {};
    const spec: Rec = (next.spec ??= {});
    spec.type ??= 'ClusterIP';
    // Node ports the user left alone go with a type that no longer needs them.
    if (needsNodePorts(old) && !needsNodePorts(spec) && sameList(nodePortsOf(old), nodePortsOf(spec)))
      for (const p of spec.ports ?? []) delete p.nodePort;
    dropTypeDependentFields(old, spec);
    if (needsClusterIp(old) && needsClusterIp(spec)) {
      if (!spec.clusterIP) spec.clusterIP = old.clusterIP;
      if (!spec.clusterIPs?.length && old.clusterIPs?.length) spec.clusterIPs = old.clusterIPs;
    }
    if (old.clusterIP !== spec.clusterIP && spec.clusterIP && sameList(old.clusterIPs, spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
    if (needsNodePorts(old) && needsNodePorts(spec)) carryNodePorts(old, spec);
    applyDefaults(spec);
    const causes = [...immutableClusterIps(old, spec), ...validateSpec(spec)];
    if (causes.length) throw invalid('Service', '', next.metadata.name, causes);
    const held = this.held(existing.metadata.uid);
    if (needsClusterIp(spec) && (!spec.clusterIP || spec.clusterIP !== old.clusterIP)) this.assignClusterIp(next, held.ips);
    this.assignNodePorts(next, new Set(nodePortsOf(old)), held.ports);
  }

  private assignClusterIp(o: Obj, held: Set<string>): void {
    const spec = o.spec;
    if (isHeadless(spec)) {
      spec.clusterIPs = ['None'];
      return;
    }
    if (spec.clusterIP) {
      const fail = (why: string) => invalid('Service', '', o.metadata.name, [invalidValue('spec.clusterIPs', spec.clusterIPs, why)]);
      const ip = String(spec.clusterIP);
      if (this.ips.indexOf(ip) === undefined)
        throw fail(
          `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.ips.cidr}`,
        );
      if (held.has(ip)) throw fail(`failed to allocate IP ${ip}: provided IP is already allocated`);
      return;
    }
    const offset = staticBand(this.ips.size, 16, 256, 16);
    const i = pickFree(this.ips.size, offset, (k) => held.has(this.ips.at(k)), this.random);
    if (i === undefined) throw new ApiError(500, 'InternalError', 'Internal error occurred: failed to allocate a serviceIP: range is full');
    spec.clusterIP = this.ips.at(i);
    spec.clusterIPs = [spec.clusterIP];
  }

  /** Requested node ports checked, missing ones picked; `own` are the ones this Service already held. */
  private assignNodePorts(o: Obj, own: Set<number>, held: Set<number>): void {
    const spec = o.spec;
    if (!needsNodePorts(spec)) return;
    const ports: Rec[] = spec.ports ?? [];
    const taken = new Set(held);
    ports.forEach((p, i) => {
      if (!p.nodePort) return;
      const fail = (why: string) => invalid('Service', '', o.metadata.name, [invalidValue(`spec.ports[${i}].nodePort`, p.nodePort, why)]);
      if (!own.has(p.nodePort) && !this.ports.contains(p.nodePort))
        throw fail(`provided port is not in the valid range. The range of valid ports is ${this.ports.text}`);
      if (taken.has(p.nodePort)) throw fail('provided port is already allocated');
      taken.add(p.nodePort);
    });
    const offset = staticBand(this.ports.size, 16, 128, 32);
    for (const p of ports) {
      if (p.nodePort) continue;
      const i = pickFree(this.ports.size, offset, (k) => taken.has(this.ports.base + k), this.random);
      if (i === undefined)
        throw new ApiError(500, 'InternalError', 'Internal error occurred: failed to allocate a nodePort: range is full');
      p.nodePort = this.ports.base + i;
      taken.add(p.nodePort);
    }
  }
}

const externallyReachable = (spec: Rec): boolean => spec.type === 'NodePort' || spec.type === 'LoadBalancer';

/** Fields only some types use, dropped when the type changes and the user left them as they were. */
function dropTypeDependentFields(old: Rec, spec: Rec): void {
  if (externallyReachable(old) && !externallyReachable(spec) && spec.externalTrafficPolicy === old.externalTrafficPolicy)
    delete spec.externalTrafficPolicy;
  if (
    old.type === 'LoadBalancer' &&
    spec.type !== 'LoadBalancer' &&
    spec.allocateLoadBalancerNodePorts === old.allocateLoadBalancerNodePorts
  )
    delete spec.allocateLoadBalancerNodePorts;
}

function nodePortsOf(spec: Rec): number[] {
  return (spec.ports ?? []).map((p: Rec) => p.nodePort).filter(Boolean);
}

/** patchAllocatedValues: a port the update names without a node port keeps the one it had. */
function carryNodePorts(old: Rec, spec: Rec): void {
  const byName = new Map<string, number>((old.ports ?? []).map((p: Rec) => [p.name ?? '', p.nodePort]));
  const used = new Set(nodePortsOf(spec));
  for (const p of spec.ports ?? []) {
    const before = byName.get(p.name ?? '');
    if (!p.nodePort && before && !used.has(before)) p.nodePort = before;
  }
}
