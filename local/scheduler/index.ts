// The embedded platform's scheduler: registers the virtual nodes as Node objects, watches Pods
// through the API server and binds each unbound Pod (default scheduler) to a node chosen by
// placePod, through the pods/binding subresource as kube-scheduler does. A Pod no node fits stays
// Pending with PodScheduled=False/Unschedulable and is retried whenever Pods or Nodes change.
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { timestamp } from '../apiserver/time.js';
import { placePod, type NamespaceLabels, type PlacementNode, type PodLike, type VirtualNode } from './placement.js';

export type { VirtualNode } from './placement.js';
export { placePod } from './placement.js';

export interface SchedulerOptions {
  apiUrl: string;
  nodes?: VirtualNode[];
  log?: (msg: string) => void;
  /** Safety-net retry of Pending Pods even without any change (ms). */
  resyncMs?: number;
}

/** `local-node-1` at 127.0.0.2, `local-node-2` at 127.0.0.3, ... one zone each. */
export function defaultNodes(count = 3): VirtualNode[] {
  if (!Number.isInteger(count) || count < 1 || count > 250) throw new Error(`nodes: expected 1..250 virtual nodes, got ${count}`);
  return Array.from({ length: count }, (_, i) => {
    const name = `local-node-${i + 1}`;
    return {
      name,
      address: `127.0.0.${i + 2}`,
      labels: {
        'kubernetes.io/hostname': name,
        'topology.kubernetes.io/zone': `local-zone-${i + 1}`,
        'kubernetes.io/os': 'linux',
      },
    };
  });
}

type Rec = Record<string, any>;
type Pod = PodLike & { metadata: PodLike['metadata'] & { uid?: string; creationTimestamp?: string; resourceVersion?: string } };

const SCHEDULER_NAME = 'default-scheduler';
const HOST_CAPACITY = { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: '110' };

class Api {
  constructor(private readonly base: string) {}

  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; body: any }> {
    const res = await fetch(this.base + path, {
      method,
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { code: res.status, body: parsed };
  }

  async must(method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.call(method, path, body, contentType);
    if (r.code >= 300) throw new Error(`${method} ${path}: ${r.code} ${String(r.body?.message ?? JSON.stringify(r.body))}`);
    return r.body;
  }
}

function nodeObject(n: VirtualNode): Rec {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: n.name, labels: { ...n.labels, 'kubernetes.io/hostname': n.labels['kubernetes.io/hostname'] ?? n.name } },
    spec: {},
    status: {
      addresses: [
        { type: 'InternalIP', address: n.address },
        { type: 'Hostname', address: n.name },
      ],
      conditions: [{ type: 'Ready', status: 'True', reason: 'LocalNodeReady', message: 'virtual node of the local platform', lastHeartbeatTime: timestamp(), lastTransitionTime: timestamp() }],
      nodeInfo: { kubeletVersion: 'v1.32.0-local', operatingSystem: 'linux', architecture: process.arch },
      // What the machine has (shared by all virtual nodes; requests are not checked against it).
      capacity: HOST_CAPACITY,
      allocatable: HOST_CAPACITY,
    },
  };
}

export interface Scheduler {
  /**
   * No Pod is bound until resume(), as when kube-scheduler has no leader: new Pods stay Pending
   * with no condition, and everything already bound runs on.
   */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function startScheduler(opts: SchedulerOptions): Promise<Scheduler> {
  const api = new Api(opts.apiUrl.replace(/\/+$/, ''));
  const nodes = opts.nodes ?? defaultNodes();
  const log = opts.log ?? (() => undefined);
  let stopped = false;
  let paused = false;

  for (const n of nodes) {
    const obj = nodeObject(n);
    const created = await api.call('POST', '/api/v1/nodes', obj);
    if (created.code === 409) {
      await api.must('PATCH', `/api/v1/nodes/${n.name}`, { metadata: { labels: obj.metadata.labels } }, 'application/merge-patch+json');
      await api.must('PATCH', `/api/v1/nodes/${n.name}/status`, { status: { addresses: obj.status.addresses, conditions: obj.status.conditions } }, 'application/strategic-merge-patch+json');
    } else if (created.code >= 300) {
      throw new Error(`registering node ${n.name}: ${created.code} ${String(created.body?.message ?? '')}`);
    }
  }

  let running: Promise<void> | undefined;
  let again = false;
  const kick = (): void => {
    if (stopped || paused) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((err: unknown) => log(`scheduling pass failed: ${(err as Error).message}`))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  };

  async function currentNodes(): Promise<PlacementNode[]> {
    const list = await api.must('GET', '/api/v1/nodes');
    const byName = new Map<string, Rec>(((list.items ?? []) as Rec[]).map((o) => [o.metadata.name, o]));
    return nodes
      .filter((n) => byName.has(n.name))
      .map((n) => {
        const o = byName.get(n.name)!;
        return { ...n, labels: o.metadata.labels ?? n.labels, unschedulable: o.spec?.unschedulable === true, taints: o.spec?.taints ?? [] };
      });
  }

  async function pass(): Promise<void> {
    const [placementNodes, podList, nsList] = await Promise.all([currentNodes(), api.must('GET', '/api/v1/pods'), api.must('GET', '/api/v1/namespaces')]);
    const pods = (podList.items ?? []) as Pod[];
    const nsLabels: NamespaceLabels = Object.fromEntries(((nsList.items ?? []) as Rec[]).map((n) => [n.metadata.name, n.metadata.labels]));
    const pending = pods
      .filter((p) => !p.spec?.nodeName && !p.metadata.deletionTimestamp && (p.spec?.schedulerName ?? SCHEDULER_NAME) === SCHEDULER_NAME)
      .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) || a.metadata.name.localeCompare(b.metadata.name));
    for (const pod of pending) {
      if (stopped || paused) return;
      const ns = pod.metadata.namespace ?? 'default';
      const path = `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`;
      const decision = placePod(pod, placementNodes, pods, nsLabels);
      if (decision.node !== undefined) {
        const node = placementNodes.find((n) => n.name === decision.node)!;
        const bound = await api.call('POST', `${path}/binding`, {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name, namespace: ns },
          target: { apiVersion: 'v1', kind: 'Node', name: node.name },
        });
        if (bound.code >= 300) {
          if (bound.code !== 409 && bound.code !== 404) log(`binding ${ns}/${pod.metadata.name}: ${bound.code} ${String(bound.body?.message ?? '')}`);
          continue;
        }
        // Later decisions in this pass must see this Pod where it now is.
        pod.spec = { ...(pod.spec ?? {}), nodeName: node.name };
        await api.call('PATCH', `${path}/status`, { status: { hostIP: node.address, hostIPs: [{ ip: node.address }] } }, 'application/strategic-merge-patch+json');
        await recordEvent(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${pod.metadata.name} to ${node.name}`);
        log(`scheduled ${ns}/${pod.metadata.name} on ${node.name}`);
      } else {
        const current = (pod.status?.conditions ?? []).find((c: Rec) => c.type === 'PodScheduled');
        if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === decision.message) continue;
        const condition = { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: decision.message, lastProbeTime: null, lastTransitionTime: timestamp() };
        await api.call('PATCH', `${path}/status`, { status: { conditions: [condition] } }, 'application/strategic-merge-patch+json');
        await recordEvent(pod, 'Warning', 'FailedScheduling', decision.message);
        log(`cannot schedule ${ns}/${pod.metadata.name}: ${decision.message}`);
      }
    }
  }

  async function recordEvent(pod: Pod, type: string, reason: string, message: string): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const now = timestamp();
    await api.call('POST', `/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${pod.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: ns, uid: pod.metadata.uid },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: SCHEDULER_NAME },
      reportingComponent: SCHEDULER_NAME,
    });
  }

  // Any Pod or Node change may free or take a place: each one triggers a pass.
  const aborts = new Set<AbortController>();
  async function watchLoop(path: string): Promise<void> {
    while (!stopped) {
      const abort = new AbortController();
      aborts.add(abort);
      try {
        const res = await fetch(`${opts.apiUrl}${path}?watch=true`, { signal: abort.signal, headers: { accept: 'application/json' } });
        if (!res.body) throw new Error(`watch ${path}: no body`);
        const decoder = new TextDecoder();
        let buffered = '';
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          if (buffered.includes('\n')) {
            buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
            kick();
          }
        }
      } catch (err) {
        if (!stopped) log(`watch ${path} broke: ${(err as Error).message}`);
      } finally {
        aborts.delete(abort);
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 300));
    }
  }
  const loops = [watchLoop('/api/v1/pods'), watchLoop('/api/v1/nodes')];
  const resync = setInterval(kick, opts.resyncMs ?? 5_000);
  kick();

  return {
    pause() {
      paused = true;
      log('paused: no Pod is bound until resumed');
    },
    resume() {
      paused = false;
      kick();
    },
    async stop() {
      stopped = true;
      clearInterval(resync);
      for (const a of aborts) a.abort();
      await Promise.allSettled(loops);
      await running;
    },
  };
}
