// The local kubelet: one object serving every virtual node. It lists and watches Pods, runs the
// Pods bound to its nodes as host processes, reports their status to the API server, and serves
// their containers' logs (logs.ts) at the port it records in its Nodes' status.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { KubeError, KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';
import { PodAddresses } from './addresses.js';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { claimVolumes, registerStorageClass } from './claims.js';
import { recordEvent } from './events.js';
import { startLogServer } from './logs.js';
import { recordKubeletPort } from './node-status.js';
import { PodWorker, type KubeletContext } from './pod.js';
import { serviceAccountOf, type ServiceAccountSource } from './service-account.js';
import type { PodStatusJson } from './status.js';
import type { ImageStore } from './command.js';
import type { ConfigMapData, SecretData, VolumeSource } from './volumes.js';

export interface KubeletNode {
  name: string;
  address: string;
}

export interface KubeletOptions {
  apiUrl: string;
  nodes: KubeletNode[];
  /** Range of Pod addresses for Pods off the host network; default 127.1.0.0/16. */
  podCidrBase?: string;
  /** Pod directories, volumes, logs, claims. Default: a temporary directory removed on stop. */
  dataDir?: string;
  log?: (message: string) => void;
  /** First restart back-off; default 1000 ms (Kubernetes: 10 s). */
  backoffBaseMs?: number;
  /** Back-off cap; default 300000 ms (as Kubernetes). */
  backoffMaxMs?: number;
  /** The redis_exporter binary; default looked up in PATH; null = treat as not installed. */
  exporterBinary?: string | null;
  /** How often ConfigMap and Secret volumes are re-synced; default 5000 ms. */
  volumeSyncMs?: number;
  /** How often probes, restarts and status are looked at; default 250 ms. */
  tickMs?: number;
  /** Images it runs besides Redis and redis_exporter. */
  images?: ImageStore;
  /** The port of the kubelet's server on every node address (Kubernetes: 10250); default 0, a free one. */
  port?: number;
}

export interface Kubelet {
  /** The port of the kubelet's server (container logs). */
  port: number;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5000;

function findInPath(...names: string[]): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    for (const name of names) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function startKubelet(opts: KubeletOptions): Promise<Kubelet> {
  if (!opts.apiUrl) throw new Error('startKubelet: apiUrl is required');
  if (!opts.nodes?.length) throw new Error('startKubelet: nodes must name at least one node');
  const log = opts.log ?? (() => {});
  const redisServerBinary = findInPath('redis-server');
  const redisCliBinary = findInPath('redis-cli');
  if (!redisServerBinary || !redisCliBinary)
    throw new Error('startKubelet: redis-server and redis-cli must be installed (package redis-server / redis-tools)');
  const exporterBinary =
    opts.exporterBinary === null ? undefined : (opts.exporterBinary ?? findInPath('redis_exporter', 'prometheus-redis-exporter'));
  const backoff: BackoffPolicy = {
    baseMs: opts.backoffBaseMs ?? DEFAULT_BACKOFF.baseMs,
    maxMs: opts.backoffMaxMs ?? DEFAULT_BACKOFF.maxMs,
  };
  const addresses = new PodAddresses(opts.podCidrBase ?? '127.1.0.0/16');
  const nodes = new Map(opts.nodes.map((n) => [n.name, n.address]));
  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'local-kubelet-')));
  await fsp.mkdir(dataDir, { recursive: true });

  const kube = new KubeRest(opts.apiUrl);
  const workers = new Map<string, PodWorker>();
  let stopped = false;
  // Claims the kubelet binds must find the class they default to when they are created.
  await registerStorageClass(kube);

  const serviceAccounts: ServiceAccountSource = {
    automount: async (namespace, name) => {
      const sa = await kube.get('v1', 'ServiceAccount', name, namespace);
      return typeof sa?.automountServiceAccountToken === 'boolean' ? sa.automountServiceAccountToken : null;
    },
    requestToken: async (pod, expirationSeconds, audiences) => {
      const boundObjectRef = { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name, uid: pod.metadata?.uid };
      const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences, expirationSeconds, boundObjectRef } };
      const sa = serviceAccountOf(pod);
      try {
        const answer = await kube.createSubresource('v1', 'ServiceAccount', sa, pod.metadata?.namespace, 'token', body);
        return String(answer.status?.token ?? '');
      } catch (err) {
        throw new Error(err instanceof KubeError ? err.message.replace(/^\S+ \S+: \d+ /, '') : errorText(err), { cause: err });
      }
    },
  };

  const volumes: VolumeSource = {
    serviceAccountToken: (pod, expirationSeconds, audience) =>
      serviceAccounts.requestToken(pod, expirationSeconds, audience ? [audience] : undefined),
    configMap: async (namespace, name) => (await kube.get('v1', 'ConfigMap', name, namespace)) as ConfigMapData | undefined,
    secret: async (namespace, name) => (await kube.get('v1', 'Secret', name, namespace)) as SecretData | undefined,
    ...claimVolumes(kube, log),
  };

  const ctx: KubeletContext = {
    dataDir,
    backoff,
    redisServerBinary,
    redisCliBinary,
    exporterBinary,
    ...(opts.images ? { images: opts.images } : {}),
    apiUrl: opts.apiUrl,
    volumes,
    serviceAccounts,
    volumeSyncMs: opts.volumeSyncMs ?? 5000,
    log,
    event: (pod, type, reason, message) => {
      if (stopped) return;
      const involved = { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata };
      recordEvent(kube, 'kubelet', involved, type, reason, message).catch((err: unknown) =>
        log(`event ${reason} for ${pod.metadata?.name}: ${errorText(err)}`),
      );
    },
    writeStatus: async (pod: V1Pod, status: PodStatusJson) => {
      await kube.patch('v1', 'Pod', pod.metadata!.name!, pod.metadata!.namespace ?? 'default', { status }, { subresource: 'status' });
    },
  };

  const ours = (pod: V1Pod): boolean => nodes.has(pod.spec?.nodeName ?? '');

  /** Confirms a deletion to the API server, which keeps bound Pods until the kubelet does. */
  const confirmDeletion = async (pod: V1Pod): Promise<void> => {
    for (let attempt = 1; attempt <= 5 && !stopped; attempt++) {
      try {
        // An object already gone is no error to delete().
        await kube.delete('v1', 'Pod', pod.metadata!.name!, pod.metadata!.namespace ?? 'default', {
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata?.uid },
        });
        return;
      } catch (err) {
        // 409: the name now belongs to a newer Pod.
        if (err instanceof KubeError && err.code === 409) return;
        log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: deletion not confirmed (attempt ${attempt}): ${errorText(err)}`);
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  };

  const finish = async (worker: PodWorker, graceMs?: number, confirm = true): Promise<void> => {
    if (worker.isTerminating) return;
    const ending = worker.terminate(graceMs);
    await ending;
    addresses.release(worker.uid);
    if (workers.get(worker.uid) === worker) workers.delete(worker.uid);
    if (confirm && !stopped) await confirmDeletion(worker.pod);
    log(`pod ${worker.key}: gone`);
  };

  const handlePod = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid;
    if (!uid || !ours(pod)) return;
    const existing = workers.get(uid);
    if (existing) {
      existing.update(pod);
      if (pod.metadata?.deletionTimestamp) void finish(existing);
      return;
    }
    if (pod.metadata?.deletionTimestamp) {
      // Nothing of it runs here (e.g. the kubelet restarted): confirm at once.
      void confirmDeletion(pod);
      return;
    }
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return;
    const hostIP = nodes.get(pod.spec!.nodeName!)!;
    try {
      const podIP = pod.spec?.hostNetwork ? hostIP : addresses.allocate(uid, pod.status?.podIP);
      const worker = new PodWorker(pod, { podIP, hostIP }, ctx);
      workers.set(uid, worker);
      log(`pod ${worker.key}: accepted on ${pod.spec?.nodeName} at ${podIP}`);
      worker.tick(Date.now());
    } catch (err) {
      addresses.release(uid);
      log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: rejected: ${errorText(err)}`);
    }
  };

  const handleGone = (uid: string): void => {
    const worker = workers.get(uid);
    // Gone without a graceful deletion (forced): no preStop hook, SIGTERM with the 2 s minimum.
    if (worker) void finish(worker, 0, false);
  };

  let collected = false;
  /** Directories of Pods that no longer exist (left by an earlier run on the same dataDir). */
  const collectPodDirs = async (liveUids: Set<string>): Promise<void> => {
    const root = path.join(dataDir, 'pods');
    const entries = await fsp.readdir(root).catch(() => [] as string[]);
    for (const entry of entries) {
      const uid = /^[^_]+_[^_]+_(.+)$/.exec(entry)?.[1];
      if (uid && !liveUids.has(uid)) {
        log(`removing the directory of a Pod that no longer exists: ${entry}`);
        await fsp.rm(path.join(root, entry), { recursive: true, force: true });
      }
    }
  };

  /** The Pods there are: each one handled, and the workers of Pods no longer there finished. */
  const onList = async (items: KubeObject[]): Promise<void> => {
    const seen = new Set<string>();
    for (const pod of items as V1Pod[]) {
      if (pod.metadata?.uid) seen.add(pod.metadata.uid);
      handlePod(pod);
    }
    for (const uid of [...workers.keys()]) if (!seen.has(uid)) handleGone(uid);
    if (!collected) {
      collected = true;
      await collectPodDirs(seen);
    }
  };

  const watch: WatchHandle = kube.watch('v1', 'Pod', {
    onList,
    onEvent: (type, obj) => {
      const pod = obj as V1Pod;
      if (type === 'DELETED') {
        if (pod.metadata?.uid) handleGone(pod.metadata.uid);
      } else handlePod(pod);
    },
    onError: (err) => {
      if (!stopped) log(`pod watch ended: ${errorText(err)}`);
    },
  });

  const ticker = setInterval(() => {
    const now = Date.now();
    for (const worker of workers.values()) {
      try {
        worker.tick(now);
      } catch (err) {
        log(`pod ${worker.key}: ${errorText(err)}`);
      }
    }
  }, opts.tickMs ?? 250);

  const logServer = await startLogServer({
    addresses: [...new Set(nodes.values())],
    port: opts.port ?? 0,
    // A Pod whose name was reused is the newer one, as the kubelet's pod manager knows it.
    pod: (namespace, name) => {
      const found = [...workers.values()].filter((w) => w.key === `${namespace}/${name}`);
      return found.find((w) => !w.isTerminating) ?? found[0];
    },
    log,
  });
  const nodeWatch = recordKubeletPort(kube, new Set(nodes.keys()), logServer.port, (m) => {
    if (!stopped) log(m);
  });

  log(`kubelet serving nodes ${[...nodes.keys()].join(', ')} from ${dataDir}, logs at port ${logServer.port}`);

  return {
    port: logServer.port,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(ticker);
      watch.stop();
      nodeWatch.stop();
      await logServer.close();
      await Promise.all([...workers.values()].map((w) => w.stop(STOP_GRACE_MS)));
      workers.clear();
      if (ownsDataDir) await fsp.rm(dataDir, { recursive: true, force: true });
    },
  };
}
