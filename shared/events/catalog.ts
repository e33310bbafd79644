// The CloudEvent catalog: every event type the operator consumes or emits, with the zod schema of
// its `data` and of its extensions. docs/events.md carries a table generated from this file.
import { z } from 'zod';

/** The reverse-DNS prefix of our own event types: the CRD group. */
export const EVENT_PREFIX = 'redis.redis.';

export const REF_ADD = 'dev.knative.apiserver.ref.add';
export const REF_UPDATE = 'dev.knative.apiserver.ref.update';
export const REF_DELETE = 'dev.knative.apiserver.ref.delete';
export const RESOURCE_ADD = 'dev.knative.apiserver.resource.add';
export const RESOURCE_UPDATE = 'dev.knative.apiserver.resource.update';
export const RESOURCE_DELETE = 'dev.knative.apiserver.resource.delete';
export const PING = 'dev.knative.sources.ping';
export const RESHARD_REQUESTED = 'redis.redis.reshard.requested.v1';
export const RESHARD_PROGRESSED = 'redis.redis.reshard.progressed.v1';
export const RESHARD_COMPLETED = 'redis.redis.reshard.completed.v1';
export const ALERT_FIRING = 'redis.redis.alert.firing.v1';
export const ALERT_RESOLVED = 'redis.redis.alert.resolved.v1';

/** Prefixes a function host may register a handler for. */
export const REF_PREFIX = 'dev.knative.apiserver.ref.';
export const RESOURCE_PREFIX = 'dev.knative.apiserver.resource.';
export const RESHARD_PREFIX = 'redis.redis.reshard.';
export const ALERT_PREFIX = 'redis.redis.alert.';

// A DNS-1123 subdomain: what Kubernetes accepts as a namespace or object name.
const k8sName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS-1123 name');

export const clusterRefSchema = z.object({ namespace: k8sName, name: k8sName });
/** Which RedisCluster an event is about. */
export type ClusterRef = z.infer<typeof clusterRefSchema>;

// --- consumed: Knative ApiServerSource --------------------------------------------------------

export const apiServerRefSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
});
export type ApiServerRef = z.infer<typeof apiServerRefSchema>;

/** Resource mode: the whole Kubernetes object. */
export const apiServerResourceSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().min(1).optional(),
    ownerReferences: z.array(z.looseObject({ apiVersion: z.string(), kind: z.string(), name: z.string() })).optional(),
  }),
});
export type ApiServerResource = z.infer<typeof apiServerResourceSchema>;

/** The extensions ApiServerSource sets; Triggers filter on them. */
export const apiServerExtensionsSchema = z.object({
  kind: z.string().min(1),
  apiversion: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().min(1).optional(),
});

// --- consumed: Knative PingSource --------------------------------------------------------------

/** The JSON configured on the PingSource (ours sends `{"reason":"resync"}`), possibly absent. */
export const pingDataSchema = z.unknown();

// --- ours: reshard -----------------------------------------------------------------------------

const count = z.int().nonnegative();

// Loose objects: the reshard function may carry progress fields of its own; the ones named here
// are the ones other parts read.
const reshardBase = {
  cluster: clusterRefSchema,
  /** metadata.generation of the RedisCluster the reshard serves. */
  generation: z.int().nonnegative(),
  reason: z.string().min(1).optional(),
};

export const reshardRequestedSchema = z.looseObject({
  ...reshardBase,
  /** scale-out fills new masters; scale-in drains masters; rebalance evens the slots. */
  mode: z.enum(['scale-out', 'scale-in', 'rebalance']).optional(),
  /** The number of masters the reshard aims at. */
  masters: z.int().positive().optional(),
});

export const reshardProgressedSchema = z.looseObject({
  ...reshardBase,
  mode: z.enum(['scale-out', 'scale-in', 'rebalance']).optional(),
  /** The chunk just finished, counting from 1. */
  step: z.int().positive(),
  slotsMoved: count,
  slotsTotal: count,
  keysMoved: count.optional(),
});

export const reshardCompletedSchema = z.looseObject({
  ...reshardBase,
  outcome: z.enum(['succeeded', 'failed']),
  slotsMoved: count.optional(),
  keysMoved: count.optional(),
  durationMs: count.optional(),
  message: z.string().optional(),
});

// --- ours: alerts --------------------------------------------------------------------------------

/** One alert of an Alertmanager webhook payload (unknown fields are kept). */
export const alertmanagerAlertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }).optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).optional(),
});
export type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;

/** Alertmanager's webhook body (version 4); newer fields such as routeLabels are kept. */
export const alertmanagerWebhookSchema = z.looseObject({
  version: z.string().optional(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.int().nonnegative().optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string().optional(),
  groupLabels: z.record(z.string(), z.string()).optional(),
  commonLabels: z.record(z.string(), z.string()).optional(),
  commonAnnotations: z.record(z.string(), z.string()).optional(),
  externalURL: z.string().optional(),
  alerts: z.array(alertmanagerAlertSchema),
});
export type AlertmanagerWebhook = z.infer<typeof alertmanagerWebhookSchema>;

const alertEventBase = {
  ...alertmanagerAlertSchema.shape,
  /** The cluster the alert is about, from its `namespace` and `redis_cluster` labels. */
  cluster: clusterRefSchema,
  /** The Alertmanager receiver and external URL of the webhook the alert came in. */
  receiver: z.string().optional(),
  externalURL: z.string().optional(),
  /**
   * When the alert-bridge received the notification: Alertmanager re-sends a still-firing alert
   * unchanged every repeat_interval, so this is what tells one notification from the next.
   */
  receivedAt: z.iso.datetime({ offset: true }).optional(),
};

export const alertFiringSchema = z.looseObject({ ...alertEventBase, status: z.literal('firing') });
export const alertResolvedSchema = z.looseObject({ ...alertEventBase, status: z.literal('resolved') });

/** The extensions of our own events; Triggers can filter on the cluster. */
export const clusterExtensionsSchema = z.object({ rcnamespace: k8sName, rcname: k8sName });
export const alertExtensionsSchema = clusterExtensionsSchema.extend({
  alertname: z.string().min(1).optional(),
});

// --- the catalog -------------------------------------------------------------------------------

export type Direction = 'consumed' | 'emitted';

export interface CatalogEntry {
  direction: Direction;
  /** Who sends it, and the CloudEvent `source` it carries. */
  producer: string;
  source: string;
  consumers: readonly string[];
  summary: string;
  data: z.ZodType;
  extensions: z.ZodObject;
  /** Derives the extensions from validated data (events we build). */
  extensionsOf: (data: never) => Record<string, string | undefined>;
  /** A documented example of `data`; tests check the schema accepts it. */
  example: unknown;
}

const refExample = { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: 'rediscluster1', namespace: 'cache' };
const resourceExample = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'rediscluster1-0',
    namespace: 'cache',
    ownerReferences: [{ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: 'rediscluster1' }],
  },
  spec: {},
};
const alertExample = {
  status: 'firing' as const,
  labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rediscluster1', namespace: 'cache' },
  annotations: { scale_count: '1' },
  startsAt: '2026-01-01T00:00:00Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus:9090/graph',
  fingerprint: 'c8b9e3a1f2d4e5f6',
  cluster: { namespace: 'cache', name: 'rediscluster1' },
  receiver: 'redis-operator',
  externalURL: 'http://alertmanager:9093',
  receivedAt: '2026-01-01T00:05:30.250Z',
};

const refExtensions = (d: ApiServerRef) => ({
  kind: d.kind,
  apiversion: d.apiVersion,
  name: d.name,
  namespace: d.namespace,
});
const resourceExtensions = (d: ApiServerResource) => ({
  kind: d.kind,
  apiversion: d.apiVersion,
  name: d.metadata.name,
  namespace: d.metadata.namespace,
});
const clusterExtensions = (d: { cluster: ClusterRef }) => ({
  rcnamespace: d.cluster.namespace,
  rcname: d.cluster.name,
});
const alertExtensions = (d: { cluster: ClusterRef; labels: Record<string, string> }) => ({
  ...clusterExtensions(d),
  alertname: d.labels['alertname'],
});

const apiServerRef = (summary: string) => ({
  direction: 'consumed' as const,
  producer: 'ApiServerSource (Reference mode)',
  source: 'the API server URL',
  consumers: ['reconcile'],
  summary,
  data: apiServerRefSchema,
  extensions: apiServerExtensionsSchema,
  extensionsOf: refExtensions,
  example: refExample,
});
const apiServerResource = (summary: string) => ({
  direction: 'consumed' as const,
  producer: 'ApiServerSource (Resource mode)',
  source: 'the API server URL',
  consumers: ['reconcile (when a source runs in Resource mode)'],
  summary,
  data: apiServerResourceSchema,
  extensions: apiServerExtensionsSchema,
  extensionsOf: resourceExtensions,
  example: resourceExample,
});

export const catalog = {
  [REF_ADD]: apiServerRef('A watched object (RedisCluster, or a Pod of one) was created.'),
  [REF_UPDATE]: apiServerRef('A watched object changed, including status writes of our own.'),
  [REF_DELETE]: apiServerRef('A watched object was deleted.'),
  [RESOURCE_ADD]: apiServerResource('A watched object was created; data is the object.'),
  [RESOURCE_UPDATE]: apiServerResource('A watched object changed; data is the object.'),
  [RESOURCE_DELETE]: apiServerResource('A watched object was deleted; data is its last state.'),
  [PING]: {
    direction: 'consumed',
    producer: 'PingSource `resync`',
    source: '/apis/v1/namespaces/<ns>/pingsources/<name>',
    consumers: ['reconcile'],
    summary: 'Periodic resync: list every RedisCluster and reconcile each.',
    data: pingDataSchema,
    extensions: z.object({}),
    extensionsOf: () => ({}),
    example: { reason: 'resync' },
  },
  [RESHARD_REQUESTED]: {
    direction: 'emitted',
    producer: 'reconcile (reply)',
    source: '/redis-operator/reconcile',
    consumers: ['reshard'],
    summary: 'The slot layout must change: start (or resume) moving slots for this generation.',
    data: reshardRequestedSchema,
    extensions: clusterExtensionsSchema,
    extensionsOf: clusterExtensions,
    example: {
      cluster: { namespace: 'cache', name: 'rediscluster1' },
      generation: 4,
      reason: 'masters 3 -> 4',
      mode: 'scale-out',
      masters: 4,
    },
  },
  [RESHARD_PROGRESSED]: {
    direction: 'emitted',
    producer: 'reshard (reply)',
    source: '/redis-operator/reshard',
    consumers: ['reshard'],
    summary: 'One bounded chunk of the reshard is done; the next delivery does the next chunk.',
    data: reshardProgressedSchema,
    extensions: clusterExtensionsSchema,
    extensionsOf: clusterExtensions,
    example: {
      cluster: { namespace: 'cache', name: 'rediscluster1' },
      generation: 4,
      mode: 'scale-out',
      step: 3,
      slotsMoved: 1200,
      slotsTotal: 4096,
      keysMoved: 150000,
    },
  },
  [RESHARD_COMPLETED]: {
    direction: 'emitted',
    producer: 'reshard (reply)',
    source: '/redis-operator/reshard',
    consumers: ['reconcile'],
    summary: 'The reshard for this generation ended (succeeded or failed); reconcile takes over again.',
    data: reshardCompletedSchema,
    extensions: clusterExtensionsSchema,
    extensionsOf: clusterExtensions,
    example: {
      cluster: { namespace: 'cache', name: 'rediscluster1' },
      generation: 4,
      outcome: 'succeeded',
      slotsMoved: 4096,
      keysMoved: 500000,
      durationMs: 81234,
    },
  },
  [ALERT_FIRING]: {
    direction: 'emitted',
    producer: 'alert-bridge (posts to K_SINK)',
    source: '/redis-operator/alert-bridge',
    consumers: ['scale'],
    summary: 'An Alertmanager alert about a cluster is firing (one event per alert and notification).',
    data: alertFiringSchema,
    extensions: alertExtensionsSchema,
    extensionsOf: alertExtensions,
    example: alertExample,
  },
  [ALERT_RESOLVED]: {
    direction: 'emitted',
    producer: 'alert-bridge (posts to K_SINK)',
    source: '/redis-operator/alert-bridge',
    consumers: ['none yet (no Trigger); kept for dashboards and audit'],
    summary: 'An Alertmanager alert about a cluster has resolved.',
    data: alertResolvedSchema,
    extensions: alertExtensionsSchema,
    extensionsOf: alertExtensions,
    example: { ...alertExample, status: 'resolved' as const, endsAt: '2026-01-01T00:10:00Z' },
  },
} as const satisfies Record<string, CatalogEntry>;

export type Catalog = typeof catalog;
export type EventType = keyof Catalog;
/** The validated `data` of an event type. */
export type EventData<T extends EventType> = z.output<Catalog[T]['data']>;
/** What `buildEvent` takes as `data` (defaults may be left out). */
export type EventDataInput<T extends EventType> = z.input<Catalog[T]['data']>;
export type EventExtensions<T extends EventType> = z.output<Catalog[T]['extensions']>;

export const EVENT_TYPES = Object.keys(catalog) as EventType[];

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalog, type);
}
