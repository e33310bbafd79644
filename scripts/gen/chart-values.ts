// The operator chart's values, one zod schema: `npm run gen` renders it as the chart's
// values.schema.json, which helm checks on install, upgrade, template and lint.
import { z } from 'zod';

const duration = z.string().regex(/^([0-9]+(ms|s|m|h|d|w|y))+$/, 'a Prometheus duration such as 30s, 5m or 1h');
const goDuration = z.string().regex(/^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$/, 'a Go duration such as 2160h');
const labels = z.record(z.string(), z.string());
const quantity = z.union([z.string().regex(/^[0-9.]+([eE][0-9]+|m|k|Ki|Mi|Gi|Ti|M|G|T)?$/), z.number()]);
const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const replicas = z.int().min(0);

const fn = z.strictObject({
  image: z.string().describe('Full image reference; empty: <image.registry>/<function>:<image.tag>'),
  minScale: replicas,
  maxScale: replicas,
  containerConcurrency: z.int().min(0),
  timeoutSeconds: z.int().min(1).max(3600),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()])),
  resources: z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() }),
});

const kedaTarget = {
  minMasters: z.int().min(3).describe('Redis Cluster needs a majority of masters to fail over'),
  maxMasters: z.int().min(3),
  memoryBytesPerMaster: z.int().min(1),
  activationMemoryBytes: z.int().min(0),
};

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes name');

export const chartValuesSchema = z.strictObject({
  // Helm adds it when the chart is a dependency.
  global: z.looseObject({}).optional(),
  // Loose: the umbrella chart passes the rest on to kube-prometheus-stack.
  prometheus: z.looseObject({
    enabled: z.boolean(),
    server: z.strictObject({ scrapeInterval: duration, evaluationInterval: duration, address: z.union([z.literal(''), z.url()]) }),
  }),
  redisOperator: z.strictObject({
    service: z.strictObject({
      enabled: z.boolean().describe('Render redis-operator-service:9090; discovery then keeps at least one Pod'),
      type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']),
      nodePort: z.int().min(30000).max(32767).optional().describe('NodePort only'),
    }),
    metrics: z.strictObject({
      podMonitor: z.strictObject({ enabled: z.boolean(), labels }),
      prometheusRule: z.strictObject({
        enabled: z.boolean(),
        labels,
        rules: z.strictObject({
          memoryThreshold: z.number().gt(0).lt(1),
          throughputThreshold: z
            .number()
            .gt(0)
            .describe('Commands/s per master (the average over its masters) above which HighThroughput fires'),
          lowMemoryThreshold: z.number().gt(0).lt(1),
          lowThroughputThreshold: z.number().min(0).describe('Commands/s per master below which LowThroughput fires'),
          highFor: duration,
          lowFor: duration,
          rateWindow: duration,
          scaleCount: z.int().min(1),
        }),
      }),
      alertmanagerConfig: z.strictObject({
        enabled: z.boolean(),
        labels,
        webhookUrl: z.url(),
        tokenSecret: z.strictObject({ name, key: z.string().min(1), token: z.string() }),
        groupWait: duration,
        groupInterval: duration,
        repeatInterval: duration,
      }),
    }),
    dashboard: z.strictObject({ enabled: z.boolean(), labels }),
  }),
  image: z.strictObject({ registry: z.string().min(1), tag: z.string(), pullPolicy: z.enum(['', 'Always', 'IfNotPresent', 'Never']) }),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']),
  scaleWindow: z.string().regex(/^[0-9]+(s|m|h)$/, 'a Knative window such as 60s'),
  resyncSchedule: z.string().min(1),
  networkPolicy: z.strictObject({
    enabled: z.boolean().describe('reconcile writes one NetworkPolicy per RedisCluster'),
    allowedClientLabels: z
      .record(z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a label name'), z.string().max(63))
      .describe('Labels of the client Pods (in the cluster namespace) that may connect'),
  }),
  certManager: z.strictObject({
    enabled: z.boolean().describe('Render a cert-manager Certificate per listed RedisCluster'),
    issuerRef: z.strictObject({
      name: name.optional(),
      kind: z.enum(['Issuer', 'ClusterIssuer']).optional(),
      group: z.string().min(1).optional(),
    }),
    duration: goDuration,
    renewBefore: goDuration,
    caDuration: goDuration,
    clusterDomain: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a DNS domain such as cluster.local'),
    clusters: z.array(z.strictObject({ namespace: name, name, secretName: name.optional() })),
  }),
  uninstall: z.strictObject({
    releaseClusters: z.boolean().describe('helm uninstall removes the operator finalizer from every RedisCluster (post-delete hook)'),
  }),
  functions: z.strictObject({
    reconcile: fn,
    reshard: fn,
    scale: fn,
    discovery: fn,
    'alert-bridge': fn,
    'dead-letter': fn,
  }),
  keda: z.strictObject({
    enabled: z.boolean(),
    ...kedaTarget,
    clusters: z.array(z.strictObject({ namespace: name, name, ...z.strictObject(kedaTarget).partial().shape })),
  }),
});

export function chartValuesSchemaJson(): string {
  const schema = z.toJSONSchema(chartValuesSchema, { io: 'input', unrepresentable: 'throw' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
