// The one table of resource types the server serves. Built-in kinds are listed here; each
// CustomResourceDefinition adds rows while it exists. Discovery, OpenAPI, routing, tables and
// strategic merge all read this table.
import type { CrdSchema } from './validation/openapi.js';

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  status: boolean;
  scale?: ScaleSpec;
  /** Defined by a CustomResourceDefinition (validated by its schema, no strategic merge). */
  custom: boolean;
  schema?: CrdSchema;
  /** The CRD version's openAPIV3Schema as written, for the OpenAPI document (kubectl explain). */
  openAPIV3Schema?: Record<string, unknown>;
  printerColumns?: PrinterColumn[];
  /** Where objects live: all versions of one resource share it. */
  storageKey: string;
  /** An access review: create-only, answered at once, never stored. */
  review?: boolean;
  /** Stored in another version's shape (events.k8s.io/v1 Events live as core/v1 Events). */
  storedAs?: { group: string; version: string; plural: string };
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface Row {
  gv: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  shortNames?: string[];
  status?: boolean;
  categories?: string[];
  review?: boolean;
  storedAs?: string;
}

// group/version, kind, plural, namespaced, shortNames, status subresource
const BUILT_IN: Row[] = [
  { gv: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], status: true },
  { gv: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], status: true },
  { gv: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], status: true, categories: ['all'] },
  { gv: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'], status: true, categories: ['all'] },
  { gv: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] },
  { gv: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { gv: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'] },
  { gv: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, shortNames: ['pvc'], status: true },
  { gv: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa'] },
  { gv: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep'] },
  { gv: 'events.k8s.io/v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'], storedAs: 'v1' },
  { gv: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], status: true },
  { gv: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, shortNames: ['netpol'] },
  { gv: 'storage.k8s.io/v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, shortNames: ['sc'] },
  { gv: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  {
    gv: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    status: true,
  },
  { gv: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', namespaced: true },
  { gv: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  { gv: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { gv: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { gv: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, review: true },
  { gv: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', plural: 'subjectaccessreviews', namespaced: false, review: true },
  { gv: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true, shortNames: ['deploy'], status: true, categories: ['all'] },
  {
    gv: 'serving.knative.dev/v1',
    kind: 'Service',
    plural: 'services',
    namespaced: true,
    shortNames: ['kservice', 'ksvc'],
    status: true,
    categories: ['all', 'knative', 'serving'],
  },
  {
    gv: 'eventing.knative.dev/v1',
    kind: 'Broker',
    plural: 'brokers',
    namespaced: true,
    status: true,
    categories: ['all', 'knative', 'eventing'],
  },
  {
    gv: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    plural: 'triggers',
    namespaced: true,
    status: true,
    categories: ['all', 'knative', 'eventing'],
  },
  {
    gv: 'sources.knative.dev/v1',
    kind: 'ApiServerSource',
    plural: 'apiserversources',
    namespaced: true,
    status: true,
    categories: ['all', 'knative', 'sources'],
  },
  {
    gv: 'sources.knative.dev/v1',
    kind: 'PingSource',
    plural: 'pingsources',
    namespaced: true,
    status: true,
    categories: ['all', 'knative', 'sources'],
  },
  {
    gv: 'sources.knative.dev/v1',
    kind: 'SinkBinding',
    plural: 'sinkbindings',
    namespaced: true,
    status: true,
    categories: ['all', 'knative', 'sources'],
  },
  { gv: 'keda.sh/v1alpha1', kind: 'ScaledObject', plural: 'scaledobjects', namespaced: true, shortNames: ['so'], status: true },
  {
    gv: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    plural: 'triggerauthentications',
    namespaced: true,
    shortNames: ['ta', 'triggerauth'],
    status: true,
  },
  // The Prometheus Operator's kinds the chart renders; the platform's monitoring reads them.
  {
    gv: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    plural: 'podmonitors',
    namespaced: true,
    shortNames: ['pmon'],
    categories: ['prometheus-operator'],
  },
  {
    gv: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    plural: 'prometheusrules',
    namespaced: true,
    shortNames: ['promrule'],
    categories: ['prometheus-operator'],
  },
  {
    gv: 'monitoring.coreos.com/v1alpha1',
    kind: 'AlertmanagerConfig',
    plural: 'alertmanagerconfigs',
    namespaced: true,
    shortNames: ['amcfg'],
    categories: ['prometheus-operator'],
  },
];

export function splitGroupVersion(gv: string): { group: string; version: string } {
  const slash = gv.indexOf('/');
  return slash < 0 ? { group: '', version: gv } : { group: gv.slice(0, slash), version: gv.slice(slash + 1) };
}

export function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

function builtIn(row: Row): ResourceType {
  const { group, version } = splitGroupVersion(row.gv);
  const storedAs = row.storedAs ? { ...splitGroupVersion(row.storedAs), plural: row.plural } : undefined;
  return {
    group,
    version,
    kind: row.kind,
    plural: row.plural,
    singular: row.kind.toLowerCase(),
    listKind: `${row.kind}List`,
    namespaced: row.namespaced,
    shortNames: row.shortNames,
    categories: row.categories,
    status: row.status ?? false,
    custom: false,
    storageKey: storedAs ? `${storedAs.group}/${storedAs.plural}` : `${group}/${row.plural}`,
    review: row.review,
    storedAs,
  };
}

/** The resource types currently served, by group/version and plural. */
export class ResourceTable {
  private readonly types = new Map<string, ResourceType>();
  private readonly crdTypes = new Map<string, string[]>();
  /** Bumped on every change, so OpenAPI hashes and discovery move with it. */
  generation = 0;

  constructor() {
    for (const row of BUILT_IN) this.add(builtIn(row));
  }

  private add(type: ResourceType): void {
    this.types.set(`${groupVersion(type.group, type.version)}|${type.plural}`, type);
    this.generation++;
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${groupVersion(group, version)}|${plural}`);
  }

  findKind(apiVersion: string, kind: string): ResourceType | undefined {
    const { group, version } = splitGroupVersion(apiVersion);
    for (const t of this.types.values()) if (t.group === group && t.version === version && t.kind === kind) return t;
    return undefined;
  }

  /** Every served type of one stored resource (all versions of a CRD). */
  byStorage(storageKey: string): ResourceType[] {
    return [...this.types.values()].filter((t) => t.storageKey === storageKey);
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Group → versions, in the order groups were first seen (core first). */
  groups(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const t of this.types.values()) {
      const versions = out.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      out.set(t.group, versions);
    }
    return out;
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }

  /** Registers (or re-registers) the types a CRD defines. */
  setCrd(crdName: string, types: ResourceType[]): void {
    this.removeCrd(crdName);
    for (const t of types) this.add(t);
    this.crdTypes.set(
      crdName,
      types.map((t) => `${groupVersion(t.group, t.version)}|${t.plural}`),
    );
  }

  removeCrd(crdName: string): void {
    for (const key of this.crdTypes.get(crdName) ?? []) this.types.delete(key);
    if (this.crdTypes.delete(crdName)) this.generation++;
  }
}

export function discoveryEntry(t: ResourceType): Record<string, unknown>[] {
  const entries: Record<string, unknown>[] = [
    {
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.review ? ['create'] : VERBS,
      ...(t.shortNames?.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories?.length ? { categories: t.categories } : {}),
    },
  ];
  if (t.status)
    entries.push({
      name: `${t.plural}/status`,
      singularName: '',
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: ['get', 'patch', 'update'],
    });
  if (t.scale) {
    entries.push({
      name: `${t.plural}/scale`,
      singularName: '',
      namespaced: t.namespaced,
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
      verbs: ['get', 'patch', 'update'],
    });
  }
  if (t.group === '' && t.plural === 'pods') {
    entries.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
    entries.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    entries.push({
      name: 'pods/eviction',
      singularName: '',
      namespaced: true,
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    });
  }
  if (t.group === '' && t.plural === 'pods') {
    entries.push({ name: 'bindings', singularName: 'binding', namespaced: true, kind: 'Binding', verbs: ['create'] });
  }
  if (t.group === '' && t.plural === 'serviceaccounts') {
    const token = { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] };
    entries.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, ...token });
  }
  return entries;
}

// Where strategic merge patch merges lists of objects by a key instead of replacing them
// (from the Kubernetes API types' patchMergeKey tags).
export const STRATEGIC_MERGE_KEYS: Record<string, string | ((item: Record<string, unknown>) => string)> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  volumes: 'name',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  conditions: 'type',
  ownerReferences: 'uid',
  addresses: 'type',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  resourceClaims: 'name',
  // Container ports merge by containerPort, Service ports by port.
  ports: (item) => ('containerPort' in item ? 'containerPort' : 'port'),
};

/** Lists of scalars that strategic merge unions instead of replacing. */
export const STRATEGIC_MERGE_SETS = new Set(['finalizers']);
