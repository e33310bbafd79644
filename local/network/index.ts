// The platform's kube-proxy: watches Services and Endpoints and forwards TCP from each Service's
// cluster IP and port, from every node address and the platform host at a node port (NodePort,
// LoadBalancer), and from the platform host at a LoadBalancer's port, whose status then carries
// that address as a bare-metal load balancer (k3s' servicelb) writes it. New connections go round
// robin to the ready endpoints; open ones are left alone when the endpoints change.
import type net from 'node:net';
import { KubeRest, type KubeObject, type WatchEventType, type WatchHandle } from '../apiserver/client.js';
import { ServiceListener } from './forwarder.js';
import { listenRules, readyBackends, serviceKey, type Backend, type ListenRule } from './rules.js';

export { clusterDns, resolveServiceName, searchNames, serviceOfName, type ClusterDns } from './dns.js';

type Rec = Record<string, any>;

export interface ServiceProxyOptions {
  apiUrl: string;
  /** The virtual nodes: node ports listen on each address. */
  nodes: { name: string; address: string }[];
  /** The platform host: node ports and load balancers listen here too; default 127.0.0.1. */
  host?: string;
  log?: (msg: string) => void;
}

export interface ServiceProxy {
  /** `address:port` of every listener that is bound now. */
  listening(): string[];
  stop(): Promise<void>;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** kube-proxy's Proxier: the listeners the Services ask for, and where their connections go. */
class Proxier {
  readonly services = new Map<string, Rec>();
  readonly endpoints = new Map<string, Rec>();
  readonly listeners = new Map<string, ServiceListener>();
  readonly sockets = new Set<net.Socket>();
  private readonly turns = new Map<string, number>();
  private readonly reported = new Set<string>();
  private readonly statusWrites = new Set<string>();
  stopped = false;

  constructor(
    private readonly kube: KubeRest,
    private readonly nodeAddresses: string[],
    private readonly host: string,
    private readonly log: (msg: string) => void,
  ) {}

  /** The next ready backend of the rule's Service port, round robin. */
  readonly pick = (rule: ListenRule): Backend | undefined => {
    const backends = readyBackends(this.endpoints.get(rule.service), rule.portName);
    if (!backends.length) return undefined;
    const key = `${rule.service}:${rule.portName}`;
    const turn = this.turns.get(key) ?? 0;
    this.turns.set(key, turn + 1);
    return backends[turn % backends.length];
  };

  /** Opens, moves and closes listeners to match the Services; load balancers' status follows. */
  sync(): void {
    if (this.stopped) return;
    const { rules, conflicts } = listenRules([...this.services.values()], this.nodeAddresses, this.host);
    for (const c of conflicts) {
      const what = `${c.service} ${c.key}`;
      if (!this.reported.has(what))
        this.log(`service ${c.service}: ${c.key} is already taken by service ${this.listeners.get(c.key)?.rule.service}`);
      this.reported.add(what);
    }
    const wanted = new Set(rules.map((r) => r.key));
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      l.close();
      this.listeners.delete(key);
    }
    for (const rule of rules) {
      const existing = this.listeners.get(rule.key);
      if (existing) {
        existing.rule = rule;
        continue;
      }
      const l = new ServiceListener(rule, this.pick, this.sockets, this.log);
      this.listeners.set(rule.key, l);
      l.open();
    }
    const conflicted = new Set(conflicts.map((c) => c.service));
    for (const svc of this.services.values()) this.writeStatus(svc, conflicted);
  }

  /** A LoadBalancer's ingress is the host once all its host ports are its own; other types have none. */
  private writeStatus(svc: Rec, conflicted: Set<string>): void {
    const key = serviceKey(svc);
    const wanted = svc.spec?.type === 'LoadBalancer' && !conflicted.has(key) ? [{ ip: this.host, ipMode: 'VIP' }] : undefined;
    const current = svc.status?.loadBalancer?.ingress;
    if (JSON.stringify(current ?? null) === JSON.stringify(wanted ?? null) || this.statusWrites.has(key)) return;
    this.statusWrites.add(key);
    this.kube
      .patchStatus(svc as KubeObject, { loadBalancer: { ingress: wanted ?? null } })
      .catch((err: unknown) => {
        if (!this.stopped) this.log(`service ${key}: load balancer status not written: ${errorText(err)}`);
      })
      .finally(() => this.statusWrites.delete(key));
  }

  stop(): void {
    this.stopped = true;
    for (const l of this.listeners.values()) l.close();
    this.listeners.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

export async function startServiceProxy(opts: ServiceProxyOptions): Promise<ServiceProxy> {
  const log = opts.log ?? (() => undefined);
  const kube = new KubeRest(opts.apiUrl);
  const proxier = new Proxier(
    kube,
    opts.nodes.map((n) => n.address),
    opts.host ?? '127.0.0.1',
    log,
  );
  const mirror = (into: Map<string, Rec>, after: () => void) => ({
    onList: (items: KubeObject[]) => {
      into.clear();
      for (const o of items) into.set(serviceKey(o), o);
      after();
    },
    onEvent: (type: WatchEventType, o: KubeObject) => {
      if (type === 'DELETED') into.delete(serviceKey(o));
      else into.set(serviceKey(o), o);
      after();
    },
    onError: (err: unknown) => {
      if (!proxier.stopped) log(`service proxy watch: ${errorText(err)}`);
    },
  });
  const watches: WatchHandle[] = [
    // Endpoints are read when a connection arrives: nothing else to do when they change.
    kube.watch(
      'v1',
      'Endpoints',
      mirror(proxier.endpoints, () => undefined),
    ),
    kube.watch(
      'v1',
      'Service',
      mirror(proxier.services, () => proxier.sync()),
    ),
  ];
  await Promise.all(watches.map((w) => w.ready));
  log(`service proxy: forwarding for ${proxier.services.size} Services`);

  return {
    listening: () => [...proxier.listeners.values()].filter((l) => l.listening).map((l) => l.rule.key),
    async stop() {
      if (proxier.stopped) return;
      for (const w of watches) w.stop();
      proxier.stop();
    },
  };
}
