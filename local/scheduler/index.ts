// The embedded platform's scheduler: registers the virtual nodes as Node objects, watches Pods
// through the API server and binds each unbound Pod (default scheduler) to a node chosen by
// placePod, through the pods/binding subresource as kube-scheduler does. A Pod no node fits stays
// Pending with PodScheduled=False/Unschedulable and is retried whenever Pods or Nodes change.
import { randomBytes } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { KubeError, KubeRest, type WatchHandle } from '../apiserver/client.js';
import { timestamp } from '../apiserver/time.js';
import { placePod, type NamespaceLabels, type PlacementNode, type PodLike, type VirtualNode } from './placement.js';
import { findCondition } from '../../shared/kube/conditions.js';

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
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'LocalNodeReady',
          message: 'virtual node of the local platform',
          lastHeartbeatTime: timestamp(),
          lastTransitionTime: timestamp(),
        },
      ],
      nodeInfo: { kubeletVersion: 'v1.32.0-local', operatingSystem: 'linux', architecture: process.arch },
      // What the machine has (shared by all virtual nodes; requests are not checked against it).
      capacity: HOST_CAPACITY,
      allocatable: HOST_CAPACITY,
    },
  };
}

/** Rethrows what is not an answer of the API server (it could not be reached). */
function unlessRefused(err: unknown): void {
  if (!(err instanceof KubeError)) throw err;
}

/** Creates the Node, or brings the labels, addresses and Ready condition of an existing one up to date. */
async function registerNode(kube: KubeRest, n: VirtualNode): Promise<void> {
  const obj = nodeObject(n);
  try {
    await kube.create(obj);
  } catch (err) {
    if (!(err instanceof KubeError && err.code === 409))
      throw new Error(`registering node ${n.name}: ${(err as Error).message}`, { cause: err });
    await kube.patch('v1', 'Node', n.name, undefined, { metadata: { labels: obj.metadata.labels } });
    const status = { addresses: obj.status.addresses, conditions: obj.status.conditions };
    await kube.patch('v1', 'Node', n.name, undefined, { status }, { type: 'strategic', subresource: 'status' });
  }
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
  const kube = new KubeRest(opts.apiUrl.replace(/\/+$/, ''));
  const nodes = opts.nodes ?? defaultNodes();
  const log = opts.log ?? (() => undefined);
  let stopped = false;
  let paused = false;

  for (const n of nodes) await registerNode(kube, n);

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
    const list = await kube.list('v1', 'Node');
    const byName = new Map<string, Rec>((list.items as Rec[]).map((o) => [o.metadata.name, o]));
    return nodes
      .filter((n) => byName.has(n.name))
      .map((n) => {
        const o = byName.get(n.name)!;
        return { ...n, labels: o.metadata.labels ?? n.labels, unschedulable: o.spec?.unschedulable === true, taints: o.spec?.taints ?? [] };
      });
  }

  async function pass(): Promise<void> {
    const [placementNodes, podList, nsList] = await Promise.all([currentNodes(), kube.list('v1', 'Pod'), kube.list('v1', 'Namespace')]);
    const pods = podList.items as Pod[];
    const nsLabels: NamespaceLabels = Object.fromEntries((nsList.items as Rec[]).map((n) => [n.metadata.name, n.metadata.labels]));
    const pending = pods
      .filter((p) => !p.spec?.nodeName && !p.metadata.deletionTimestamp && (p.spec?.schedulerName ?? SCHEDULER_NAME) === SCHEDULER_NAME)
      .sort(
        (a, b) =>
          String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) ||
          a.metadata.name.localeCompare(b.metadata.name),
      );
    for (const pod of pending) {
      if (stopped || paused) return;
      const ns = pod.metadata.namespace ?? 'default';
      const decision = placePod(pod, placementNodes, pods, nsLabels);
      if (decision.node !== undefined) {
        const node = placementNodes.find((n) => n.name === decision.node)!;
        try {
          await kube.createSubresource('v1', 'Pod', pod.metadata.name, ns, 'binding', {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: pod.metadata.name, namespace: ns },
            target: { apiVersion: 'v1', kind: 'Node', name: node.name },
          });
        } catch (err) {
          // 409: bound meanwhile; 404: gone meanwhile.
          const code = err instanceof KubeError ? err.code : undefined;
          if (code !== 409 && code !== 404) log(`binding ${ns}/${pod.metadata.name}: ${(err as Error).message}`);
          continue;
        }
        // Later decisions in this pass must see this Pod where it now is.
        pod.spec = { ...(pod.spec ?? {}), nodeName: node.name };
        await writePodStatus(pod, { hostIP: node.address, hostIPs: [{ ip: node.address }] });
        await recordEvent(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${pod.metadata.name} to ${node.name}`);
        log(`scheduled ${ns}/${pod.metadata.name} on ${node.name}`);
      } else {
        const current = findCondition(pod.status?.conditions as ({ type: string } & Rec)[] | undefined, 'PodScheduled');
        if (current?.status === 'False' && current.reason === 'Unschedulable' && current.message === decision.message) continue;
        const condition = {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: decision.message,
          lastProbeTime: null,
          lastTransitionTime: timestamp(),
        };
        await writePodStatus(pod, { conditions: [condition] });
        await recordEvent(pod, 'Warning', 'FailedScheduling', decision.message);
        log(`cannot schedule ${ns}/${pod.metadata.name}: ${decision.message}`);
      }
    }
  }

  /** A strategic merge of the Pod's status; the API server refusing it (the Pod gone meanwhile) is not an error here. */
  async function writePodStatus(pod: Pod, status: Rec): Promise<void> {
    await kube
      .patch('v1', 'Pod', pod.metadata.name, pod.metadata.namespace ?? 'default', { status }, { type: 'strategic', subresource: 'status' })
      .catch(unlessRefused);
  }

  async function recordEvent(pod: Pod, type: string, reason: string, message: string): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const now = timestamp();
    const event = {
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
    };
    await kube.create(event).catch(unlessRefused);
  }

  // Any Pod or Node change may free or take a place: each one triggers a pass.
  const watches: WatchHandle[] = ['Pod', 'Node'].map((kind) =>
    kube.watch('v1', kind, {
      onList: kick,
      onEvent: kick,
      onError: (err) => {
        if (!stopped) log(`watch ${kind} broke: ${(err as Error).message}`);
      },
    }),
  );
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
      for (const w of watches) w.stop();
      await running;
    },
  };
}
