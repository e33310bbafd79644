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

export async function startServiceProxy(opts: ServiceProxyOptions): Promise<ServiceProxy> {
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const nodeAddresses = opts.nodes.map((n) => n.address);
  const kube = new KubeRest(opts.apiUrl);
  const services = new Map<string, Rec>();
  const endpoints = new Map<string, Rec>();
  const listeners = new Map<string, ServiceListener>();
  const sockets = new Set<net.Socket>();
  const turns = new Map<string, number>();
  const reported = new Set<string>();
  const statusWrites = new Set<string>();
  let stopped = false;

  const pick = (rule: ListenRule): Backend | undefined => {
    const backends = readyBackends(endpoints.get(rule.service), rule.portName);
    if (!backends.length) return undefined;
    const key = `${rule.service}:${rule.portName}`;
    const turn = turns.get(key) ?? 0;
    turns.set(key, turn + 1);
    return backends[turn % backends.length];
  };

  /** A LoadBalancer's ingress is the host once all its host ports are its own; other types have none. */
  const writeStatus = (svc: Rec, conflicted: Set<string>): void => {
    const key = serviceKey(svc);
    const wanted = svc.spec?.type === 'LoadBalancer' && !conflicted.has(key) ? [{ ip: host, ipMode: 'VIP' }] : undefined;
    const current = svc.status?.loadBalancer?.ingress;
    if (JSON.stringify(current ?? null) === JSON.stringify(wanted ?? null) || statusWrites.has(key)) return;
    statusWrites.add(key);
    kube
      .patchStatus(svc as KubeObject, { loadBalancer: { ingress: wanted ?? null } })
      .catch((err: unknown) => {
        if (!stopped) log(`service ${key}: load balancer status not written: ${errorText(err)}`);
      })
      .finally(() => statusWrites.delete(key));
  };

  const sync = (): void => {
    if (stopped) return;
    const { rules, conflicts } = listenRules([...services.values()], nodeAddresses, host);
    const conflicted = new Set(conflicts.map((c) => c.service));
    for (const c of conflicts) {
      const what = `${c.service} ${c.key}`;
      if (!reported.has(what)) log(`service ${c.service}: ${c.key} is already taken by service ${listeners.get(c.key)?.rule.service}`);
      reported.add(what);
    }
    const wanted = new Map(rules.map((r) => [r.key, r]));
    for (const [key, l] of listeners) {
      if (wanted.has(key)) continue;
      l.close();
      listeners.delete(key);
    }
    for (const rule of rules) {
      const existing = listeners.get(rule.key);
      if (existing) {
        existing.rule = rule;
        continue;
      }
      const l = new ServiceListener(rule, pick, sockets, log);
      listeners.set(rule.key, l);
      l.open();
    }
    for (const svc of services.values()) writeStatus(svc, conflicted);
  };

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
      if (!stopped) log(`service proxy watch: ${errorText(err)}`);
    },
  });

  const watches: WatchHandle[] = [
    // Endpoints are read when a connection arrives: nothing else to do when they change.
    kube.watch(
      'v1',
      'Endpoints',
      mirror(endpoints, () => undefined),
    ),
    kube.watch('v1', 'Service', mirror(services, sync)),
  ];
  await Promise.all(watches.map((w) => w.ready));
  log(`service proxy: forwarding for ${services.size} Services`);

  return {
    listening: () => [...listeners.values()].filter((l) => l.listening).map((l) => l.rule.key),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const w of watches) w.stop();
      for (const l of listeners.values()) l.close();
      listeners.clear();
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
