// The endpoints controller: for each Service with a selector, a v1 Endpoints object of the same
// name listing the selected Pods, ready ones in `addresses` and the others in
// `notReadyAddresses`, with the Service's ports resolved against each Pod (a named targetPort
// is looked up in the Pod's container ports). Services without a selector keep the Endpoints
// their users write; a deleted Service's Endpoints go with it.
import { canonical } from '../canonical.js';
import type { ApiCore } from '../core.js';
import { ApiError } from '../errors.js';
import type { Obj } from '../store.js';
import { isConditionTrue } from '../../../shared/kube/conditions.js';

type Rec = Record<string, any>;

const SERVICES = '/services';
const PODS = '/pods';
const ENDPOINTS = '/endpoints';
/** The label Kubernetes puts on the Endpoints of a headless Service. */
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

export interface EndpointPort {
  name?: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

/** podutil.FindPort: a numeric targetPort as it is, a named one from the Pod's container ports. */
export function resolveTargetPort(pod: Rec, servicePort: Rec): number | undefined {
  const target = servicePort.targetPort ?? servicePort.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(String(target))) return Number(target);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === target && (p.protocol ?? 'TCP') === (servicePort.protocol ?? 'TCP')) return p.containerPort;
    }
  }
  return undefined;
}

const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** ShouldPodBeInEndpoints: running or pending with an address, not terminating. */
const inEndpoints = (pod: Rec): boolean =>
  !!pod.status?.podIP && !pod.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(pod.status?.phase);

/** The `subsets` of a Service's Endpoints: Pods with the same resolved ports share a subset. */
export function endpointSubsets(service: Rec, pods: Rec[]): Rec[] {
  const selector: Record<string, string> = service.spec?.selector ?? {};
  const bySubset = new Map<string, { ports: EndpointPort[]; addresses: Rec[]; notReadyAddresses: Rec[] }>();
  for (const pod of pods) {
    if (pod.metadata?.namespace !== service.metadata?.namespace || !selects(selector, pod.metadata?.labels) || !inEndpoints(pod)) continue;
    const ports: EndpointPort[] = [];
    for (const sp of service.spec?.ports ?? []) {
      const port = resolveTargetPort(pod, sp);
      if (port === undefined) continue;
      ports.push({
        ...(sp.name ? { name: sp.name } : {}),
        port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
      });
    }
    if ((service.spec?.ports ?? []).length && !ports.length) continue;
    const key = canonical(ports);
    let subset = bySubset.get(key);
    if (!subset) bySubset.set(key, (subset = { ports, addresses: [], notReadyAddresses: [] }));
    const address = {
      ip: pod.status.podIP,
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    const ready = service.spec?.publishNotReadyAddresses === true || isConditionTrue(pod.status?.conditions, 'Ready');
    (ready ? subset.addresses : subset.notReadyAddresses).push(address);
  }
  const byIp = (a: Rec, b: Rec) => String(a.ip).localeCompare(String(b.ip), 'en', { numeric: true });
  return [...bySubset.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, s]) => ({
      ...(s.addresses.length ? { addresses: s.addresses.sort(byIp) } : {}),
      ...(s.notReadyAddresses.length ? { notReadyAddresses: s.notReadyAddresses.sort(byIp) } : {}),
      ...(s.ports.length ? { ports: s.ports } : {}),
    }));
}

function endpointsLabels(service: Rec): Record<string, string> {
  const labels: Record<string, string> = { ...(service.metadata?.labels ?? {}) };
  if (service.spec?.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
  else delete labels[HEADLESS_LABEL];
  return labels;
}

export class EndpointsController {
  private dirty = true;
  /** Services deleted since the last pass: their Endpoints go. */
  private readonly deleted: { namespace: string; name: string }[] = [];
  private soon: NodeJS.Immediate | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly core: ApiCore,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.unsubscribe = core.store.subscribe((e) => {
      if (e.storageKey !== SERVICES && e.storageKey !== PODS && e.storageKey !== ENDPOINTS) return;
      if (e.storageKey === SERVICES && e.type === 'DELETED') this.deleted.push(e.object.metadata as { namespace: string; name: string });
      this.dirty = true;
      // Right after the write that changed something (one pass for a burst of them).
      this.soon ??= setImmediate(() => {
        this.soon = undefined;
        try {
          this.sync();
        } catch (err) {
          this.log(`endpoints controller: ${(err as Error).stack ?? String(err)}`);
        }
      });
    });
  }

  stop(): void {
    this.unsubscribe();
    if (this.soon) clearImmediate(this.soon);
  }

  sync(): void {
    if (!this.dirty) return;
    if (this.soon) clearImmediate(this.soon);
    this.soon = undefined;
    this.dirty = false;
    const t = this.core.type('', 'v1', 'endpoints');
    for (const gone of this.deleted.splice(0)) {
      if (this.core.store.get(SERVICES, gone.namespace, gone.name)) continue;
      this.write(() => this.core.delete(t, gone.namespace, gone.name), `delete ${gone.namespace}/${gone.name}`);
    }
    const pods = this.core.store.list(PODS);
    for (const service of this.core.store.list(SERVICES)) {
      if (!Object.keys(service.spec?.selector ?? {}).length || service.spec?.type === 'ExternalName') continue;
      if (service.metadata.deletionTimestamp) continue;
      const { namespace, name } = service.metadata;
      const subsets = endpointSubsets(service, pods);
      const labels = endpointsLabels(service);
      const current = this.core.store.get(ENDPOINTS, namespace, name);
      if (
        current &&
        canonical(current.subsets ?? []) === canonical(subsets) &&
        canonical(current.metadata.labels ?? {}) === canonical(labels)
      )
        continue;
      const body: Obj = { ...(current ?? {}), metadata: { ...(current?.metadata ?? { name, namespace }), labels }, subsets };
      if (!subsets.length) delete body.subsets;
      this.write(
        () => (current ? this.core.update(t, namespace, name, body, undefined) : this.core.create(t, namespace, body)),
        `${namespace}/${name}`,
      );
    }
  }

  private write(fn: () => unknown, what: string): void {
    try {
      fn();
    } catch (err) {
      // Gone, or in a namespace being deleted: nothing left to keep up to date.
      if (err instanceof ApiError && (err.code === 404 || err.code === 403)) return;
      // Tried again on the next pass (a namespace being deleted, a conflict).
      this.dirty = true;
      this.log(`endpoints ${what}: ${(err as Error).message}`);
    }
  }
}
