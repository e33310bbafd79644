// The fields of a RedisCluster spec, each with its bounds, default and description. Rules that
// relate several fields live in rules.ts; this file knows nothing about them.
import { z } from 'zod';
import { MEMORY_PATTERN } from './memory.js';
import { QUANTITY_PATTERN } from './quantity.js';
import { CONFIG_NAME_PATTERN, CONFIG_VALUE_PATTERN, OPERATOR_OWNED_CONFIG, isOperatorOwnedConfig } from './redis-config.js';

const OWNED_CONFIG_MESSAGE = 'is set by the operator and cannot be overridden';

export const MIN_MASTERS = 3;
export const MAX_REPLICAS = 5;
/** Redis Cluster is designed for up to 1000 nodes; it also keeps every port range disjoint. */
export const MAX_NODES = 1000;
export const MIN_BASE_PORT = 1024;
export const MAX_PORT = 65535;
export const BUS_PORT_OFFSET = 10000;
export const EXPORTER_PORT_OFFSET = 5000;
/** The highest basePort that still fits the smallest cluster (3 nodes) under MAX_PORT. */
export const MAX_BASE_PORT = MAX_PORT - BUS_PORT_OFFSET - (MIN_MASTERS - 1);

export const MAX_MEMORY_POLICIES = [
  'noeviction',
  'allkeys-lru',
  'allkeys-lfu',
  'allkeys-random',
  'volatile-lru',
  'volatile-lfu',
  'volatile-random',
  'volatile-ttl',
] as const;
export type MaxMemoryPolicy = (typeof MAX_MEMORY_POLICIES)[number];

/** The alerts of the reference's autoscaling contract and what each one does by default. */
export const DEFAULT_ALERT_ACTIONS = {
  HighMemoryUsage: { target: 'masters', direction: 'add' },
  HighThroughput: { target: 'masters', direction: 'add' },
  LowMemoryUsage: { target: 'masters', direction: 'remove' },
  LowThroughput: { target: 'masters', direction: 'remove' },
} as const satisfies Record<string, { target: 'masters' | 'replicas'; direction: 'add' | 'remove' }>;

/** Every default in one place; docs/api.md and the CRD are generated from the schema that uses it. */
export const DEFAULTS = {
  image: 'redis:7.0',
  masters: 3,
  replicas: 1,
  basePort: 10000,
  hostNetwork: true,
  clusterNodeTimeout: 5000,
  // Redis's own default: keys are never dropped silently; a full node refuses writes, which the
  // HighMemoryUsage alert exists to prevent by adding masters first.
  maxMemoryPolicy: 'noeviction' as MaxMemoryPolicy,
  persistenceEnabled: false,
  persistenceSize: '1Gi',
  exporterEnabled: true,
  exporterImage: 'oliver006/redis_exporter',
  exporterTag: 'v1.45.0',
  passwordKey: 'password',
  autoscalingEnabled: false,
  minMasters: MIN_MASTERS,
  maxMasters: 10,
  minReplicas: 0,
  maxReplicas: MAX_REPLICAS,
  cooldownSeconds: 300,
  allowDataLoss: false,
  paused: false,
} as const;

// DNS-1123 subdomain: what Kubernetes requires of Secret names.
const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const SECRET_KEY_PATTERN = '^[-._a-zA-Z0-9]+$';

/** A type error's message, or `is required` when the field is missing. */
const typeError = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});

const QUANTITY_MESSAGE =
  'must be a Kubernetes quantity such as 1, 500m, 0.5, 128Mi or 1Gi (a number must be a whole number; write fractions as a string)';

export const quantity = z.union(
  [
    z.string().max(64, QUANTITY_MESSAGE).regex(new RegExp(QUANTITY_PATTERN), QUANTITY_MESSAGE),
    z.number().int(QUANTITY_MESSAGE).min(0, QUANTITY_MESSAGE),
  ],
  typeError(QUANTITY_MESSAGE),
);

/** A map with at most `max` entries, checked by zod and declared to the CRD as maxProperties. */
function limitEntries<T extends z.ZodRecord>(schema: T, max: number, noun: string): T {
  return schema.meta({ maxProperties: max }).check((ctx) => {
    if (Object.keys(ctx.value as object).length > max) {
      ctx.issues.push({ code: 'custom', input: ctx.value, message: `must have at most ${max} ${noun}` });
    }
  }) as T;
}

const resourceList = limitEntries(z.record(z.string(), quantity), 16, 'entries');

export const resources = z
  .strictObject({
    limits: resourceList.optional().describe('The most the container may use, e.g. {cpu: 1, memory: 1000Mi}.'),
    requests: resourceList.optional().describe('What the container is scheduled with.'),
  })
  .describe('Compute resources of a container, as in a Pod spec.');

const freeForm = (description: string) => z.record(z.string(), z.unknown()).describe(description);

const imageName = z
  .string()
  .min(1, 'must not be empty')
  .max(512, 'must be at most 512 characters')
  .regex(/^[^\s]+$/, 'must not contain whitespace');

const tag = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag: letters, digits, _ . -, at most 128 characters');

const memorySize = z
  .string({
    error: (issue) =>
      issue.input === undefined ? 'is required (the maxmemory of each node, e.g. 512mb)' : 'must be a string such as "512mb"',
  })
  .regex(new RegExp(MEMORY_PATTERN), {
    message: 'must be a Redis memory size: digits and an optional unit b, k, kb, m, mb, g or gb, e.g. 512mb or 1gb (at most about 1 PB)',
    abort: true,
  })
  .regex(/[1-9]/, 'must be greater than 0 (0 would let Redis use memory without limit)')
  .describe('maxmemory of each node in Redis units: 512mb, 1gb, 100kb or plain bytes; k/m/g are powers of 1000, kb/mb/gb of 1024.');

export const alertAction = z
  .strictObject({
    target: z
      .enum(['masters', 'replicas'], typeError('must be masters or replicas'))
      .default('masters')
      .describe('What the alert changes: the number of masters or of replicas per master.'),
    direction: z.enum(['add', 'remove'], typeError('must be add or remove')).describe('Whether the alert adds or removes.'),
    count: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100, 'must be at most 100')
      .optional()
      .describe("How many to add or remove; when unset, the alert's scale_count annotation, else 1."),
  })
  .describe('What one alert does when it fires.');

export const autoscaling = z
  .strictObject({
    enabled: z.boolean().default(DEFAULTS.autoscalingEnabled).describe('Whether firing alerts change this cluster.'),
    minMasters: z
      .number()
      .int('must be a whole number')
      .min(MIN_MASTERS, `must be at least ${MIN_MASTERS} (a cluster needs a majority of masters to fail over)`)
      .max(MAX_NODES, `must be at most ${MAX_NODES}`)
      .default(DEFAULTS.minMasters)
      .describe('Fewest masters autoscaling may leave.'),
    maxMasters: z
      .number()
      .int('must be a whole number')
      .min(MIN_MASTERS, `must be at least ${MIN_MASTERS} (a cluster needs a majority of masters to fail over)`)
      .max(MAX_NODES, `must be at most ${MAX_NODES}`)
      .default(DEFAULTS.maxMasters)
      .describe('Most masters autoscaling may create.'),
    minReplicas: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(MAX_REPLICAS, `must be at most ${MAX_REPLICAS}`)
      .default(DEFAULTS.minReplicas)
      .describe('Fewest replicas per master autoscaling may leave.'),
    maxReplicas: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(MAX_REPLICAS, `must be at most ${MAX_REPLICAS}`)
      .default(DEFAULTS.maxReplicas)
      .describe('Most replicas per master autoscaling may create.'),
    cooldownSeconds: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(86400, 'must be at most 86400 (one day)')
      .default(DEFAULTS.cooldownSeconds)
      .describe('Least time between two scaling steps of this cluster.'),
    actions: limitEntries(z.record(z.string(), alertAction), 32, 'alerts')
      .optional()
      .describe(
        'Per alert name, what it does. Merged over the defaults: HighMemoryUsage and HighThroughput add a master, LowMemoryUsage and LowThroughput remove one.',
      ),
  })
  .describe('Scaling on Alertmanager alerts (labels redis_cluster and namespace).');

export const persistence = z
  .strictObject({
    enabled: z
      .boolean()
      .default(DEFAULTS.persistenceEnabled)
      .describe(
        'Keep data and nodes.conf on a PersistentVolumeClaim per node instead of an emptyDir. Without it nodes take no RDB snapshots (`save ""` unless redisConfig sets save).',
      ),
    storageClass: z.string().min(1, 'must not be empty').optional().describe('StorageClass of the claims; the default class when unset.'),
    size: quantity.default(DEFAULTS.persistenceSize).describe('Size of each claim.'),
  })
  .describe('Where each node keeps its data.');

export const exporter = z
  .strictObject({
    enabled: z.boolean().default(DEFAULTS.exporterEnabled).describe('Run the redis_exporter sidecar on port + 5000.'),
    image: imageName.default(DEFAULTS.exporterImage).describe('Exporter image.'),
    tag: tag.default(DEFAULTS.exporterTag).describe('Exporter image tag.'),
    resources: resources.optional().describe('Exporter resources; the same as spec.exporterResources.'),
  })
  .describe('The metrics exporter sidecar.');

export const passwordSecret = z
  .strictObject({
    name: z
      .string(typeError('must be a string'))
      .max(253, 'must be at most 253 characters')
      .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), 'must be a Secret name (lower-case DNS subdomain)')
      .describe("Name of a Secret in the cluster's namespace."),
    key: z
      .string()
      .max(253, 'must be at most 253 characters')
      .regex(new RegExp(SECRET_KEY_PATTERN), 'must be a Secret key: letters, digits, - _ .')
      .default(DEFAULTS.passwordKey)
      .describe('Key of the password in that Secret.'),
  })
  .describe('The password (requirepass and masterauth) of every node, also used by the operator.');

/**
 * ACL user names the operator manages itself; spec.acl.users cannot redefine them: `default`
 * (spec.passwordSecret), its own and the exporter's (shared/redis/users.ts).
 */
export const RESERVED_ACL_USERS = ['default', 'redis-operator', 'redis-exporter'] as const;

export const aclUser = z
  .strictObject({
    name: z
      .string(typeError('must be a string'))
      .min(1, 'must not be empty')
      .max(128, 'must be at most 128 characters')
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'must be an ACL user name: letters, digits, _ . : -')
      .refine((n) => !(RESERVED_ACL_USERS as readonly string[]).includes(n), {
        message: `is a user the operator manages (${RESERVED_ACL_USERS.join(', ')}); choose another name`,
      })
      .describe('User name, as clients give it to AUTH.'),
    rules: z
      .string(typeError('must be a string'))
      .min(1, 'must not be empty')
      .max(4096, 'must be at most 4096 characters')
      .regex(new RegExp(CONFIG_VALUE_PATTERN), 'must be a single line')
      .describe(
        'Redis ACL rules, space-separated, as ACL SETUSER takes them (on ~app:* +@all -@dangerous); applied after reset, so whatever is not granted is denied.',
      ),
    passwordSecret: passwordSecret
      .optional()
      .describe("The user's password; without it the user cannot log in unless its rules say nopass."),
  })
  .describe('A Redis ACL user, applied on every node.');

export const acl = z
  .strictObject({
    users: z
      .array(aclUser)
      .max(64, 'must have at most 64 entries')
      .default([])
      .check((ctx) => {
        const seen = new Set<string>();
        ctx.value.forEach((u, i) => {
          if (seen.has(u.name)) ctx.issues.push({ code: 'custom', input: u.name, path: [i, 'name'], message: `repeats user ${u.name}` });
          seen.add(u.name);
        });
      })
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
      .describe('The users besides default. Once spec.acl is set, a user on the nodes that is not listed here is deleted.'),
  })
  .describe('Redis ACL users (ACL SETUSER on every node; Redis Cluster does not propagate ACLs).');
export const tls = z
  .strictObject({
    secretName: z
      .string(typeError('must be a string'))
      .max(253, 'must be at most 253 characters')
      .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), 'must be a Secret name (lower-case DNS subdomain)')
      .describe(
        "Name of a Secret in the cluster's namespace with tls.crt, tls.key and ca.crt (what cert-manager writes). A change to it is loaded by every node without a restart.",
      ),
  })
  .describe(
    'Serve TLS only: clients, the cluster bus and replication. Added to or removed from a live cluster, the nodes are moved over in two rolls with no acknowledged write lost (docs/security.md).',
  );

const redisConfig = limitEntries(
  z.record(
    z.string(),
    z
      .string(typeError('must be a string (quote values such as "yes")'))
      .max(1024, 'must be at most 1024 characters')
      .regex(new RegExp(CONFIG_VALUE_PATTERN), 'must be a single line'),
  ),
  64,
  'settings',
)
  .check((ctx) => {
    for (const key of Object.keys(ctx.value)) {
      if (!new RegExp(CONFIG_NAME_PATTERN).test(key)) {
        ctx.issues.push({
          code: 'custom',
          input: key,
          path: [key],
          message: 'is not a redis.conf setting name (letters, digits and dashes)',
        });
      } else if (isOperatorOwnedConfig(key)) {
        ctx.issues.push({ code: 'custom', input: key, path: [key], message: OWNED_CONFIG_MESSAGE });
      }
    }
  })
  .meta({
    // Map keys cannot carry a pattern in a structural schema, and iterating them in CEL costs too
    // much, so the API server checks the owned names as written in lower case; zod checks all cases.
    'x-kubernetes-validations': [
      {
        rule: `${JSON.stringify(OPERATOR_OWNED_CONFIG)}.all(k, !(k in self))`.replaceAll('"', "'"),
        message: `must not set a setting the operator owns (${OPERATOR_OWNED_CONFIG.join(', ')})`,
      },
    ],
  })
  .describe('Extra redis.conf settings. Settings the operator owns (port, cluster-*, requirepass, maxmemory, ...) are refused.');

/** The spec's fields with their defaults, before any cross-field rule. */
export const specFields = z.strictObject({
  image: imageName.default(DEFAULTS.image).describe('Redis image; may carry its tag (redis:7.0).'),
  tag: tag.optional().describe("Image tag; replaces the image's own tag when set."),
  imagePullPolicy: z
    .enum(['Always', 'IfNotPresent', 'Never'], typeError('must be Always, IfNotPresent or Never'))
    .optional()
    .describe('Pull policy of the Redis and exporter images.'),
  imagePullSecrets: z
    .array(z.strictObject({ name: z.string().min(1, 'must not be empty').describe('Secret name.') }))
    .max(16, 'must have at most 16 entries')
    .optional()
    .describe('Secrets for pulling the images.'),
  masters: z
    .number(typeError('must be a whole number'))
    .int('must be a whole number')
    .min(MIN_MASTERS, `must be at least ${MIN_MASTERS} (a cluster needs a majority of masters to fail over)`)
    .max(MAX_NODES, `must be at most ${MAX_NODES}`)
    .default(DEFAULTS.masters)
    .describe('Number of masters; the slots are spread over them.'),
  replicas: z
    .number(typeError('must be a whole number'))
    .int('must be a whole number')
    .min(0, 'must be at least 0')
    .max(MAX_REPLICAS, `must be at most ${MAX_REPLICAS}`)
    .default(DEFAULTS.replicas)
    .describe('Replicas per master.'),
  basePort: z
    .number(typeError('must be a whole number'))
    .int('must be a whole number')
    .min(MIN_BASE_PORT, `must be at least ${MIN_BASE_PORT} (lower ports need privileges)`)
    .max(
      MAX_BASE_PORT,
      `must be at most ${MAX_BASE_PORT} (each node's cluster bus port, basePort + i + ${BUS_PORT_OFFSET}, must stay <= ${MAX_PORT})`,
    )
    .default(DEFAULTS.basePort)
    .describe(
      `Port of node 0; node i listens on basePort + i, its cluster bus on + ${BUS_PORT_OFFSET}, its exporter on + ${EXPORTER_PORT_OFFSET}.`,
    ),
  maxMemory: memorySize,
  maxMemoryPolicy: z
    .enum(MAX_MEMORY_POLICIES, typeError(`must be one of ${MAX_MEMORY_POLICIES.join(', ')}`))
    .default(DEFAULTS.maxMemoryPolicy)
    .describe('maxmemory-policy of each node.'),
  hostNetwork: z
    .boolean()
    .default(DEFAULTS.hostNetwork)
    .describe("Run nodes on the host's network (the reference's choice, faster); false gives each node a Pod IP."),
  clusterNodeTimeout: z
    .number(typeError('must be a whole number of milliseconds'))
    .int('must be a whole number of milliseconds')
    .min(1000, 'must be at least 1000 ms (shorter timeouts fail over healthy masters)')
    .max(120000, 'must be at most 120000 ms')
    .default(DEFAULTS.clusterNodeTimeout)
    .describe('cluster-node-timeout in milliseconds: how long a node may be unreachable before it is failed over.'),
  allowDataLoss: z
    .boolean()
    .default(DEFAULTS.allowDataLoss)
    .describe(
      "When a shard's master and all its replicas are gone, re-cover its slots empty so the rest of the cluster serves again; when every node came back without its data, form an empty cluster. The lost keys stay lost.",
    ),
  paused: z
    .boolean()
    .default(DEFAULTS.paused)
    .describe(
      'Stop every change to the Redis nodes and their Pods (reconcile, reshard between chunks, autoscaling) so a person can work by hand; false resumes from what the cluster is then.',
    ),
  resources: resources.optional().describe('Resources of the Redis container.'),
  exporterResources: resources.optional().describe('Resources of the exporter sidecar; the same as spec.exporter.resources.'),
  securityContext: freeForm('Pod security context, as in a Pod spec.').optional(),
  nodeSelector: z
    .record(z.string(), z.string(typeError('must be a string')))
    .optional()
    .describe('Node labels the Pods must match.'),
  tolerations: z
    .array(
      z
        .looseObject({
          key: z.string().optional(),
          operator: z.enum(['Exists', 'Equal'], typeError('must be Exists or Equal')).optional(),
          value: z.string().optional(),
          effect: z
            .enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute'], typeError('must be NoSchedule, PreferNoSchedule or NoExecute'))
            .optional(),
          tolerationSeconds: z.number().int('must be a whole number').optional(),
        })
        .describe('A toleration, as in a Pod spec.'),
    )
    .max(64, 'must have at most 64 entries')
    .optional()
    .describe('Pod tolerations.'),
  affinity: freeForm("Pod affinity, merged with the anti-affinity that keeps a replica off its master's host.").optional(),
  persistence: persistence.prefault({}),
  exporter: exporter.prefault({}),
  passwordSecret: passwordSecret.optional(),
  acl: acl.optional(),
  tls: tls.optional(),
  autoscaling: autoscaling.prefault({}),
  redisConfig: redisConfig.optional(),
});
