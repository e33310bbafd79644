// The Kubernetes objects of one RedisCluster, built from its defaulted spec. Pure: the same cluster
// gives the same objects, so applying them again changes nothing.
import type {
  V1ConfigMap,
  V1Container,
  V1EnvVar,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodDisruptionBudget,
  V1Service,
  V1Volume,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import {
  ANNOTATION_RESTART_HASH,
  ANNOTATION_TLS_HASH,
  ANNOTATION_TLS_LAYOUT,
  API_VERSION,
  KIND,
  LABEL_ORDINAL,
  LABEL_SHARD,
  clusterLabels,
  exporterImage,
  isRestartOnlyConfig,
  nodeCount,
  nodePorts,
  parseMemory,
  redisImage,
  selectorLabels,
  type DefaultedSpec,
} from '../../shared/api/index.js';
import { handoverScript, type HandoverTarget } from './handover.js';
import { TLS_FILES, TLS_MOUNT, tlsConf } from './tls.js';
import { startingBus } from './tls-transition.js';
import { isDual as dual, portSpeaksTls as portTls, TLS_VOLUME, TRANSITION_PORT_OFFSET, type PortLayout } from '../../shared/tls/layout.js';
import { usersSecretName } from '../../shared/kube/users-secret.js';
import { EXPORTER_ARGS, EXPORTER_RULES, EXPORTER_USER, OPERATOR_RULES, OPERATOR_USER, userArgs } from '../../shared/redis/users.js';

export const HOSTNAME_KEY = 'kubernetes.io/hostname';
export const REDIS_CONTAINER = 'redis';
export const EXPORTER_CONTAINER = 'exporter';
export const CONFIG_DIR = '/etc/redis';
export const DATA_DIR = '/data';
export const PASSWORD_ENV = 'REDIS_PASSWORD';
const OPERATOR_PASSWORD_ENV = 'REDIS_OPERATOR_PASSWORD';
const EXPORTER_PASSWORD_ENV = 'REDIS_EXPORTER_PASSWORD';

/** The RedisCluster as the builders need it: its identity and its defaulted spec. */
export interface ClusterIdentity {
  name: string;
  namespace: string;
  uid: string;
}

/**
 * What a node's ports serve, and the Secret its TLS files come from. Outside a transition: the
 * spec's (finalTls). While TLS is turned off the spec no longer names the Secret; the Pods do.
 */
export interface NodeTls {
  layout: PortLayout;
  secretName?: string;
  /** Made while TLS is turned on or off: a plaintext Pod names its bus too (see portArgs). */
  transition?: boolean;
}

export const finalTls = (spec: DefaultedSpec): NodeTls =>
  spec.tls ? { layout: 'tls', secretName: spec.tls.secretName } : { layout: 'plain' };

export const configMapName = (cluster: string): string => `${cluster}-config`;
export const podName = (cluster: string, ordinal: number): string => `${cluster}-${ordinal}`;
export const claimName = (cluster: string, ordinal: number): string => `${cluster}-${ordinal}-data`;

export function ownerReference(cluster: ClusterIdentity): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: cluster.name, uid: cluster.uid, controller: true, blockOwnerDeletion: true };
}

function metadata(cluster: ClusterIdentity, name: string, labels: Record<string, string> = clusterLabels(cluster.name)) {
  return { name, namespace: cluster.namespace, labels, ownerReferences: [ownerReference(cluster)] };
}

/**
 * Without persistence a node takes no RDB snapshot. One would be stale the moment it is written:
 * a master whose container restarts would load it and serve old data under its slots instead of
 * coming back empty and waiting for its replica to take over (startScript). Each snapshot also
 * forks, which can double the node's memory under writes. A `save` in redisConfig still wins.
 */
const NO_SNAPSHOTS = '""';

/**
 * The TLS lines every node shares: the certificate files when a Secret is mounted, and the bus
 * the cluster runs. During a transition the bus is the cluster's current one, so a node of the
 * old layout that restarts comes back on it; Pods made during it name theirs on the command line.
 */
export interface ConfTls {
  files: boolean;
  bus: boolean;
}

/**
 * Without persistence the RDB a replica receives in a full sync is written to its data directory
 * and left there; promoted later and restarted, the node would load those stale keys as a master
 * (startScript). Redis deletes it after loading with this (ignored where snapshots or AOF are on).
 */
const NO_SYNC_FILES = ['rdb-del-sync-files yes'];

/** redis.conf: what every node shares; per-node settings (port, announce) go on the command line. */
export function redisConf(spec: DefaultedSpec, tls: ConfTls = { files: !!spec.tls, bus: !!spec.tls }): string {
  const lines = [
    'cluster-enabled yes',
    `cluster-config-file ${DATA_DIR}/nodes.conf`,
    `dir ${DATA_DIR}`,
    `cluster-node-timeout ${spec.clusterNodeTimeout}`,
    `maxmemory ${spec.maxMemory}`,
    `maxmemory-policy ${spec.maxMemoryPolicy}`,
    // The operator places replicas itself; a replica migrating on its own would break the shards.
    'cluster-allow-replica-migration no',
    'cluster-require-full-coverage yes',
    // A full sync starts as soon as the shard's replicas are waiting, not after the 5 s batching
    // delay: a replica attached or restarted is in sync seconds sooner.
    `repl-diskless-sync-max-replicas ${spec.replicas}`,
    `appendonly ${spec.persistence.enabled ? 'yes' : 'no'}`,
    ...(spec.persistence.enabled ? [] : [`save ${NO_SNAPSHOTS}`, ...NO_SYNC_FILES]),
    'protected-mode no',
    ...tlsConf(tls),
  ];
  for (const [key, value] of Object.entries(spec.redisConfig ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`${key} ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The redis.conf settings a running node can take with CONFIG SET, as the spec wants them: a
 * changed spec reaches the nodes without restarting them.
 */
export function liveSettings(spec: DefaultedSpec): Record<string, string> {
  return {
    maxmemory: String(parseMemory(spec.maxMemory)),
    'maxmemory-policy': spec.maxMemoryPolicy,
    'cluster-node-timeout': String(spec.clusterNodeTimeout),
    'repl-diskless-sync-max-replicas': String(spec.replicas),
    // CONFIG GET answers "" for no snapshots; a cluster made before this setting gets it live.
    ...(spec.persistence.enabled ? {} : { save: '', 'rdb-del-sync-files': 'yes' }),
    ...Object.fromEntries(
      Object.entries(spec.redisConfig ?? {})
        .filter(([k]) => !isRestartOnlyConfig(k))
        .map(([k, v]) => [k.toLowerCase(), v]),
    ),
  };
}

/**
 * The hash of what only a new Pod applies: the images, resources, the exporter, the redis.conf
 * settings a running node refuses, the password's Secret (env) and the Pod's placement and
 * security settings. Live settings are left out (CONFIG SET applies them), and so are the fields
 * a running cluster cannot change (basePort, hostNetwork, persistence).
 */
export function restartHash(spec: DefaultedSpec, tls: NodeTls = finalTls(spec)): string {
  const restartOnly = Object.entries(spec.redisConfig ?? {})
    .filter(([k]) => isRestartOnlyConfig(k))
    .map(([k, v]) => [k.toLowerCase(), v])
    .sort(([a], [b]) => a!.localeCompare(b!));
  const parts = {
    image: redisImage(spec),
    imagePullPolicy: spec.imagePullPolicy ?? null,
    imagePullSecrets: spec.imagePullSecrets ?? null,
    resources: spec.resources ?? null,
    exporter: spec.exporter.enabled ? { image: exporterImage(spec), resources: spec.exporter.resources ?? null } : false,
    restartOnly,
    passwordSecret: spec.passwordSecret ?? null,
    // The operator's and the exporter's users are start arguments: new rules need new Pods.
    users: spec.passwordSecret ? [OPERATOR_RULES, EXPORTER_RULES] : null,
    tls: spec.tls ?? null,
    // Only a dual layout adds a part: the hash of every Pod outside a transition stays as it was.
    ...(dual(tls.layout) ? { tlsLayout: tls.layout, tlsSecret: tls.secretName ?? null } : {}),
    securityContext: spec.securityContext ?? null,
    nodeSelector: spec.nodeSelector ?? null,
    tolerations: spec.tolerations ?? null,
    affinity: spec.affinity ?? null,
  };
  return createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so the same spec written in another key order hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The settings whose value on a node (CONFIG GET) differs from what the spec wants. */
export function configDrift(wanted: Record<string, string>, current: Record<string, string>): [string, string][] {
  return Object.entries(wanted).filter(([k, v]) => current[k] !== undefined && current[k]!.toLowerCase() !== v.toLowerCase());
}

export function buildConfigMap(cluster: ClusterIdentity, spec: DefaultedSpec, tls?: ConfTls): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(cluster, configMapName(cluster.name)),
    data: { 'redis.conf': redisConf(spec, tls) },
  };
}

/** Headless: clients find every node by DNS; one port per node the spec asks for. */
export function buildService(cluster: ClusterIdentity, spec: DefaultedSpec): V1Service {
  const ports = Array.from({ length: nodeCount(spec) }, (_, i) => {
    const { port } = nodePorts(spec, i);
    return { name: `redis-${i}`, port, targetPort: port, protocol: 'TCP' };
  });
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(cluster, cluster.name),
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(cluster.name), ports },
  };
}

export function buildPodDisruptionBudget(cluster: ClusterIdentity): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(cluster, cluster.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cluster.name) } },
  };
}

/** The shard label says where its node's Pod goes when the claim outlives every Pod of the cluster. */
export function buildClaim(cluster: ClusterIdentity, spec: DefaultedSpec, ordinal: number, shard: number): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata(cluster, claimName(cluster.name, ordinal), {
      ...clusterLabels(cluster.name),
      [LABEL_ORDINAL]: String(ordinal),
      [LABEL_SHARD]: String(shard),
    }),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: String(spec.persistence.size) } },
      ...(spec.persistence.storageClass ? { storageClassName: spec.persistence.storageClass } : {}),
    },
  };
}

type AnyRecord = Record<string, unknown>;

/**
 * Required anti-affinity among the Pods of one shard (a replica never shares its master's host),
 * preferred anti-affinity across the cluster (spread), merged with the user's affinity.
 */
export function podAffinity(clusterName: string, shard: number, user: AnyRecord | undefined): AnyRecord {
  const shardTerm = {
    labelSelector: { matchLabels: { ...selectorLabels(clusterName), [LABEL_SHARD]: String(shard) } },
    topologyKey: HOSTNAME_KEY,
  };
  const spreadTerm = {
    weight: 100,
    podAffinityTerm: { labelSelector: { matchLabels: selectorLabels(clusterName) }, topologyKey: HOSTNAME_KEY },
  };
  const anti = (user?.podAntiAffinity ?? {}) as AnyRecord;
  return {
    ...(user ?? {}),
    podAntiAffinity: {
      ...anti,
      requiredDuringSchedulingIgnoredDuringExecution: [
        ...((anti.requiredDuringSchedulingIgnoredDuringExecution as unknown[] | undefined) ?? []),
        shardTerm,
      ],
      preferredDuringSchedulingIgnoredDuringExecution: [
        ...((anti.preferredDuringSchedulingIgnoredDuringExecution as unknown[] | undefined) ?? []),
        spreadTerm,
      ],
    },
  };
}

/**
 * The container's start: a node that was a master and comes back with no data on disk (no
 * persistence: only nodes.conf survived) waits until its replica has been promoted, so it rejoins
 * as a replica and syncs, instead of serving its slots empty and wiping its replica with them.
 * The wait is the cluster's failover time: twice the node timeout plus two seconds. Without
 * persistence a dump.rdb on disk is not data to keep: it is what the node received as a replica
 * when it last synced (Redis writes the transfer to disk), stale by everything written since. A
 * node promoted since would load it and serve those old keys as its master, its replicas resyncing
 * from it. rdb-del-sync-files stops new ones; one left from before is removed here, unless
 * redisConfig asks for snapshots.
 */
export function startScript(spec: Pick<DefaultedSpec, 'clusterNodeTimeout' | 'persistence' | 'redisConfig'>): string {
  const waitSeconds = Math.ceil((2 * spec.clusterNodeTimeout + 2000) / 1000);
  const snapshots = Object.keys(spec.redisConfig ?? {}).some((k) => k.toLowerCase() === 'save');
  return [
    ...(spec.persistence.enabled || snapshots ? [] : [`rm -f ${DATA_DIR}/dump.rdb`]),
    `if grep -q 'myself,master' ${DATA_DIR}/nodes.conf 2>/dev/null && [ ! -s ${DATA_DIR}/dump.rdb ] && [ ! -d ${DATA_DIR}/appendonlydir ]; then sleep ${waitSeconds}; fi`,
    `exec redis-server ${CONFIG_DIR}/redis.conf "$@"`,
  ].join('; ');
}

/** An env var from the cluster's users Secret (shared/kube/users-secret.ts). */
const userPasswordEnv = (cluster: string, name: string, user: string): V1EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: usersSecretName(cluster), key: user } },
});

/**
 * The node's ports and the bus it starts on. With TLS the node's port serves TLS only, and the
 * cluster announces it as the TLS port. A dual layout serves the other protocol on the transition
 * port. A Pod that has TLS anywhere, or is made while TLS is turned on or off, names its bus: the
 * shared redis.conf follows the cluster's, which a transition switches under Pods started before.
 */
function portArgs(port: number, busPort: number, tls: NodeTls): string[] {
  const { layout } = tls;
  const ip = ['--cluster-announce-ip', '$(POD_IP)'];
  const bus = ['--cluster-announce-bus-port', String(busPort)];
  const mode = startingBus(layout) ? 'yes' : 'no';
  const busMode = ['--tls-cluster', mode, '--tls-replication', mode];
  // A plain cluster's Pods say nothing of TLS: an image built without it would refuse the options.
  if (layout === 'plain')
    return ['--port', String(port), ...ip, '--cluster-announce-port', String(port), ...bus, ...(tls.transition ? busMode : [])];
  if (layout === 'tls')
    return ['--port', '0', '--tls-port', String(port), ...ip, '--cluster-announce-tls-port', String(port), ...bus, ...busMode];
  const second = String(port + TRANSITION_PORT_OFFSET);
  const [plain, secure] = layout === 'plain+tls' ? [String(port), second] : [second, String(port)];
  return [
    ...['--port', plain, '--tls-port', secure, ...ip, '--cluster-announce-port', plain, '--cluster-announce-tls-port', secure, ...bus],
    ...busMode,
  ];
}

/** How the preStop hook reaches its own node: the port's protocol, as the operator's user. */
function handoverTarget(spec: DefaultedSpec, port: number, tls: NodeTls): HandoverTarget {
  return {
    port,
    ...(portTls(tls.layout) ? { tls: { caFile: TLS_FILES.ca } } : {}),
    ...(spec.passwordSecret ? { user: { name: OPERATOR_USER, passwordEnv: OPERATOR_PASSWORD_ENV } } : {}),
  };
}

function redisContainer(cluster: string, spec: DefaultedSpec, ordinal: number, tls: NodeTls): V1Container {
  const { port, busPort } = nodePorts(spec, ordinal);
  const env: V1EnvVar[] = [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }];
  const args = portArgs(port, busPort, tls);
  if (spec.passwordSecret) {
    env.push({ name: PASSWORD_ENV, valueFrom: { secretKeyRef: { name: spec.passwordSecret.name, key: spec.passwordSecret.key } } });
    args.push('--requirepass', `$(${PASSWORD_ENV})`, '--masterauth', `$(${PASSWORD_ENV})`);
    env.push(
      userPasswordEnv(cluster, OPERATOR_PASSWORD_ENV, OPERATOR_USER),
      userPasswordEnv(cluster, EXPORTER_PASSWORD_ENV, EXPORTER_USER),
    );
    args.push(
      ...userArgs(OPERATOR_USER, `$(${OPERATOR_PASSWORD_ENV})`, OPERATOR_RULES),
      ...userArgs(EXPORTER_USER, `$(${EXPORTER_PASSWORD_ENV})`, EXPORTER_RULES),
    );
  }
  // Generous liveness: a node loading a large dataset must not be killed for being slow.
  const probe = { tcpSocket: { port } };
  return {
    name: REDIS_CONTAINER,
    image: redisImage(spec),
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    command: ['sh', '-c', startScript(spec), 'redis-server'],
    args,
    env,
    ports: [
      { name: 'redis', containerPort: port, protocol: 'TCP' },
      { name: 'bus', containerPort: busPort, protocol: 'TCP' },
    ],
    lifecycle: { preStop: { exec: { command: ['sh', '-c', handoverScript(handoverTarget(spec, port, tls))] } } },
    readinessProbe: { ...probe, initialDelaySeconds: 0, periodSeconds: 1, failureThreshold: 3 },
    livenessProbe: { ...probe, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 6 },
    volumeMounts: [{ name: 'config', mountPath: CONFIG_DIR }, { name: 'data', mountPath: DATA_DIR }, ...tlsMounts(tls)],
    ...(spec.resources ? { resources: spec.resources as V1Container['resources'] } : {}),
  };
}

const tlsMounts = (tls: NodeTls) => (tls.layout !== 'plain' ? [{ name: TLS_VOLUME, mountPath: TLS_MOUNT, readOnly: true }] : []);

function exporterContainer(cluster: string, spec: DefaultedSpec, ordinal: number, tls: NodeTls): V1Container {
  const { port, exporterPort } = nodePorts(spec, ordinal);
  const overTls = portTls(tls.layout);
  // Over TLS it reaches its own node on the Pod's loopback and does not verify the certificate:
  // one issued before the Pod existed (cert-manager's) cannot name its IP, and nothing can stand
  // between two containers of one Pod on loopback.
  const env: V1EnvVar[] = [
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'REDIS_ADDR', value: overTls ? `rediss://localhost:${port}` : `redis://$(POD_IP):${port}` },
  ];
  // Its own read-only user, whose password no rotation of spec.passwordSecret changes.
  if (spec.passwordSecret)
    env.push({ name: 'REDIS_USER', value: EXPORTER_USER }, userPasswordEnv(cluster, 'REDIS_PASSWORD', EXPORTER_USER));
  return {
    name: EXPORTER_CONTAINER,
    image: exporterImage(spec),
    ...(spec.imagePullPolicy ? { imagePullPolicy: spec.imagePullPolicy } : {}),
    args: [
      `--web.listen-address=$(POD_IP):${exporterPort}`,
      ...(overTls ? ['--skip-tls-verification'] : []),
      ...(spec.passwordSecret ? EXPORTER_ARGS : []),
    ],
    env,
    ports: [{ name: 'metrics', containerPort: exporterPort, protocol: 'TCP' }],
    ...(spec.exporter.resources ? { resources: spec.exporter.resources as V1Container['resources'] } : {}),
  };
}

/**
 * Node `ordinal` of shard `shard`: port basePort + ordinal, its data on an emptyDir or its claim.
 * `tlsHash`: the TLS Secret it starts with, so it is not reloaded for it. `tls`: its layout.
 */
export function buildPod(
  cluster: ClusterIdentity,
  spec: DefaultedSpec,
  ordinal: number,
  shard: number,
  tlsHash?: string,
  tls: NodeTls = finalTls(spec),
): V1Pod {
  const name = podName(cluster.name, ordinal);
  const data: V1Volume = spec.persistence.enabled
    ? { name: 'data', persistentVolumeClaim: { claimName: claimName(cluster.name, ordinal) } }
    : { name: 'data', emptyDir: {} };
  const containers = [redisContainer(cluster.name, spec, ordinal, tls)];
  if (spec.exporter.enabled) containers.push(exporterContainer(cluster.name, spec, ordinal, tls));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...metadata(cluster, name, {
        ...clusterLabels(cluster.name),
        [LABEL_ORDINAL]: String(ordinal),
        [LABEL_SHARD]: String(shard),
      }),
      annotations: {
        [ANNOTATION_RESTART_HASH]: restartHash(spec, tls),
        ...(tlsHash ? { [ANNOTATION_TLS_HASH]: tlsHash } : {}),
        ...(dual(tls.layout) ? { [ANNOTATION_TLS_LAYOUT]: tls.layout } : {}),
      },
    },
    spec: {
      restartPolicy: 'Always',
      hostNetwork: spec.hostNetwork,
      ...(spec.hostNetwork ? { dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
      affinity: podAffinity(cluster.name, shard, spec.affinity as AnyRecord | undefined),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations as NonNullable<V1Pod['spec']>['tolerations'] } : {}),
      ...(spec.securityContext ? { securityContext: spec.securityContext as NonNullable<V1Pod['spec']>['securityContext'] } : {}),
      ...(spec.imagePullSecrets ? { imagePullSecrets: spec.imagePullSecrets } : {}),
      containers,
      volumes: [
        { name: 'config', configMap: { name: configMapName(cluster.name) } },
        data,
        ...(tls.layout !== 'plain' && tls.secretName ? [{ name: TLS_VOLUME, secret: { secretName: tls.secretName } }] : []),
      ],
    },
  };
}
