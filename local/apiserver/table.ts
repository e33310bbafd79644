// meta.k8s.io/v1 Table responses, which `kubectl get` asks for: the printer columns of a CRD, and
// for the built-in kinds the columns kubectl users know.
import { evalJsonPath } from './jsonpath.js';
import type { PrinterColumn, ResourceType } from './resources.js';
import { findCondition } from '../../shared/kube/conditions.js';

type Obj = Record<string, any>;

interface Column {
  name: string;
  type: string;
  format?: string;
  priority?: number;
  description?: string;
  cell: (o: Obj, now: number) => unknown;
}

/** kubectl's short age: 45s, 3m20s, 5h, 2d3h. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

const age = (ts: unknown, now: number): string => (typeof ts === 'string' ? humanDuration(now - Date.parse(ts)) : '<unknown>');

const NAME: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata?.name ?? '' };
const AGE: Column = { name: 'Age', type: 'string', cell: (o, now) => age(o.metadata?.creationTimestamp, now) };

function podStatus(p: Obj): string {
  if (p.metadata?.deletionTimestamp) return 'Terminating';
  let reason: string = p.status?.reason ?? p.status?.phase ?? 'Pending';
  for (const c of p.status?.containerStatuses ?? []) {
    const r = c.state?.waiting?.reason ?? c.state?.terminated?.reason;
    if (r) reason = r;
  }
  return reason;
}

/** kubectl's EXTERNAL-IP of a Service: external IPs, a load balancer's ingress, or <pending>. */
function serviceExternalIp(s: Obj): string {
  const external: string[] = s.spec?.externalIPs ?? [];
  switch (s.spec?.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return external.length ? external.join(',') : '<none>';
    case 'LoadBalancer': {
      const ingress = (s.status?.loadBalancer?.ingress ?? []).map((i: Obj) => i.ip ?? i.hostname).filter(Boolean);
      let lb = ingress.join(',');
      if (lb.length > 16) lb = `${lb.slice(0, 13)}...`;
      const all = [...(lb ? [lb] : []), ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return s.spec?.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** kubectl's ENDPOINTS column: the first three ready ip:port pairs, then how many more. */
function formatEndpoints(e: Obj): string {
  const list: string[] = [];
  let count = 0;
  for (const subset of e.subsets ?? []) {
    const addresses: Obj[] = subset.addresses ?? [];
    const ports: (number | undefined)[] = subset.ports?.length ? subset.ports.map((p: Obj) => p.port) : [undefined];
    for (const port of ports) {
      count += addresses.length;
      for (const a of addresses) if (list.length < 3) list.push(port === undefined ? a.ip : `${a.ip}:${port}`);
    }
  }
  if (count > list.length) return `${list.join(',')} + ${count - list.length} more...`;
  return list.join(',') || '<none>';
}

const BUILT_IN_COLUMNS: Record<string, Column[]> = {
  '/pods': [
    NAME,
    {
      name: 'Ready',
      type: 'string',
      cell: (p) => {
        const statuses: Obj[] = p.status?.containerStatuses ?? [];
        return `${statuses.filter((c) => c.ready).length}/${(p.spec?.containers ?? []).length}`;
      },
    },
    { name: 'Status', type: 'string', cell: podStatus },
    {
      name: 'Restarts',
      type: 'string',
      cell: (p) => String((p.status?.containerStatuses ?? []).reduce((n: number, c: Obj) => n + (c.restartCount ?? 0), 0)),
    },
    AGE,
    { name: 'IP', type: 'string', priority: 1, cell: (p) => p.status?.podIP ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (p) => p.spec?.nodeName ?? '<none>' },
  ],
  '/nodes': [
    NAME,
    {
      name: 'Status',
      type: 'string',
      cell: (n) => {
        const ready = findCondition(n.status?.conditions as { type: string; status?: string }[] | undefined, 'Ready');
        const base = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
        return n.spec?.unschedulable ? `${base},SchedulingDisabled` : base;
      },
    },
    { name: 'Roles', type: 'string', cell: () => '<none>' },
    AGE,
    { name: 'Version', type: 'string', cell: (n) => n.status?.nodeInfo?.kubeletVersion ?? '' },
    {
      name: 'Internal-IP',
      type: 'string',
      priority: 1,
      cell: (n) => (n.status?.addresses ?? []).find((a: Obj) => a.type === 'InternalIP')?.address ?? '<none>',
    },
  ],
  '/services': [
    NAME,
    { name: 'Type', type: 'string', cell: (s) => s.spec?.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (s) => s.spec?.clusterIP ?? '<none>' },
    { name: 'External-IP', type: 'string', cell: (s) => serviceExternalIp(s) },
    {
      name: 'Port(s)',
      type: 'string',
      cell: (s) =>
        (s.spec?.ports ?? []).map((p: Obj) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') ||
        '<none>',
    },
    AGE,
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      cell: (s) =>
        Object.entries(s.spec?.selector ?? {})
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',') || '<none>',
    },
  ],
  '/endpoints': [NAME, { name: 'Endpoints', type: 'string', cell: (e) => formatEndpoints(e) }, AGE],
  '/namespaces': [NAME, { name: 'Status', type: 'string', cell: (n) => n.status?.phase ?? 'Active' }, AGE],
  '/configmaps': [
    NAME,
    { name: 'Data', type: 'integer', cell: (c) => Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length },
    AGE,
  ],
  '/secrets': [
    NAME,
    { name: 'Type', type: 'string', cell: (s) => s.type ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (s) => Object.keys(s.data ?? {}).length + Object.keys(s.stringData ?? {}).length },
    AGE,
  ],
  '/events': [
    { name: 'Last Seen', type: 'string', cell: (e, now) => age(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp, now) },
    { name: 'Type', type: 'string', cell: (e) => e.type ?? '' },
    { name: 'Reason', type: 'string', cell: (e) => e.reason ?? '' },
    {
      name: 'Object',
      type: 'string',
      cell: (e) => `${String(e.involvedObject?.kind ?? '').toLowerCase()}/${e.involvedObject?.name ?? ''}`,
    },
    { name: 'Message', type: 'string', cell: (e) => e.message ?? '' },
  ],
  'events.k8s.io/events': [
    {
      name: 'Last Seen',
      type: 'string',
      cell: (e, now) => age(e.series?.lastObservedTime ?? e.eventTime ?? e.metadata?.creationTimestamp, now),
    },
    { name: 'Type', type: 'string', cell: (e) => e.type ?? '' },
    { name: 'Reason', type: 'string', cell: (e) => e.reason ?? '' },
    { name: 'Object', type: 'string', cell: (e) => `${String(e.regarding?.kind ?? '').toLowerCase()}/${e.regarding?.name ?? ''}` },
    { name: 'Message', type: 'string', cell: (e) => e.note ?? '' },
  ],
  'apiextensions.k8s.io/customresourcedefinitions': [
    NAME,
    { name: 'Created At', type: 'date', cell: (c) => c.metadata?.creationTimestamp ?? '' },
  ],
  'coordination.k8s.io/leases': [NAME, { name: 'Holder', type: 'string', cell: (l) => l.spec?.holderIdentity ?? '' }, AGE],
  'policy/poddisruptionbudgets': [
    NAME,
    { name: 'Min Available', type: 'string', cell: (p) => String(p.spec?.minAvailable ?? 'N/A') },
    { name: 'Max Unavailable', type: 'string', cell: (p) => String(p.spec?.maxUnavailable ?? 'N/A') },
    { name: 'Allowed Disruptions', type: 'integer', cell: (p) => p.status?.disruptionsAllowed ?? 0 },
    AGE,
  ],
};

const READY = (type = 'Ready'): PrinterColumn => ({
  name: 'Ready',
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
});
const REASON = (type = 'Ready'): PrinterColumn => ({
  name: 'Reason',
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].reason`,
});
const AGE_COLUMN: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

// The printer columns the Knative and KEDA CRDs declare, for the kinds served here without them.
const PRINTER_COLUMNS: Record<string, PrinterColumn[]> = {
  'serving.knative.dev/services': [
    { name: 'URL', type: 'string', jsonPath: '.status.url' },
    { name: 'LatestCreated', type: 'string', jsonPath: '.status.latestCreatedRevisionName' },
    { name: 'LatestReady', type: 'string', jsonPath: '.status.latestReadyRevisionName' },
    READY(),
    REASON(),
  ],
  'eventing.knative.dev/brokers': [{ name: 'URL', type: 'string', jsonPath: '.status.address.url' }, AGE_COLUMN, READY(), REASON()],
  'eventing.knative.dev/triggers': [
    { name: 'Broker', type: 'string', jsonPath: '.spec.broker' },
    { name: 'Subscriber_URI', type: 'string', jsonPath: '.status.subscriberUri' },
    AGE_COLUMN,
    READY(),
    REASON(),
  ],
  'sources.knative.dev/apiserversources': [{ name: 'Sink', type: 'string', jsonPath: '.status.sinkUri' }, AGE_COLUMN, READY(), REASON()],
  'sources.knative.dev/pingsources': [
    { name: 'Sink', type: 'string', jsonPath: '.status.sinkUri' },
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
    AGE_COLUMN,
    READY(),
    REASON(),
  ],
  'sources.knative.dev/sinkbindings': [{ name: 'Sink', type: 'string', jsonPath: '.status.sinkUri' }, AGE_COLUMN, READY(), REASON()],
  'keda.sh/scaledobjects': [
    { name: 'ScaleTargetKind', type: 'string', jsonPath: '.status.scaleTargetKind' },
    { name: 'ScaleTargetName', type: 'string', jsonPath: '.spec.scaleTargetRef.name' },
    { name: 'Min', type: 'integer', jsonPath: '.spec.minReplicaCount' },
    { name: 'Max', type: 'integer', jsonPath: '.spec.maxReplicaCount' },
    READY(),
    { name: 'Active', type: 'string', jsonPath: '.status.conditions[?(@.type=="Active")].status' },
    AGE_COLUMN,
  ],
};

function printerColumns(cols: PrinterColumn[]): Column[] {
  return [
    NAME,
    ...cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format,
      priority: c.priority ?? 0,
      description: c.description,
      cell: (o: Obj, now: number) => {
        // Like Kubernetes: the first value, typed by the column (strings printed, dates as ages).
        const values = evalJsonPath(o, c.jsonPath);
        if (values.length === 0 || values[0] === undefined || values[0] === null) return null;
        const v = values[0];
        switch (c.type) {
          case 'date':
            return age(v, now);
          case 'integer':
            return typeof v === 'number' ? Math.trunc(v) : null;
          case 'number':
            return typeof v === 'number' ? v : null;
          case 'boolean':
            return typeof v === 'boolean' ? v : null;
          default:
            return typeof v === 'object' ? JSON.stringify(v) : String(v);
        }
      },
    })),
  ];
}

function columnsFor(t: ResourceType): Column[] {
  if (t.custom) return t.printerColumns?.length ? printerColumns(t.printerColumns) : [NAME, AGE];
  const declared = PRINTER_COLUMNS[`${t.group}/${t.plural}`];
  if (declared) return printerColumns(declared);
  return BUILT_IN_COLUMNS[`${t.group}/${t.plural}`] ?? [NAME, AGE];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function partialMetadata(o: Obj): Obj {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(
  t: ResourceType,
  objects: Obj[],
  opts: { resourceVersion?: string; include: IncludeObject; withColumns?: boolean },
): Obj {
  const now = Date.now();
  const columns = columnsFor(t);
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : {},
    columnDefinitions:
      opts.withColumns === false
        ? []
        : columns.map((c) => ({
            name: c.name,
            type: c.type,
            format: c.format ?? '',
            description: c.description ?? c.name,
            priority: c.priority ?? 0,
          })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o, now)),
      ...(opts.include === 'None' ? {} : { object: opts.include === 'Object' ? o : partialMetadata(o) }),
    })),
  };
}
