// Deleting a RedisCluster: best-effort reset of every node that answers (never waiting on one that
// does not), then its Pods and claims, then our finalizer so the API server can let it go.
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { RedisCluster } from '../../shared/api/index.js';
import { selectorFor } from '../../shared/api/index.js';
import { isConflict, isNotFound, type Kube } from '../../shared/kube/index.js';
import { RedisPool, type PoolOptions } from '../../shared/redis/connection.js';
import { RetryError } from './errors.js';
import { errorMessage } from '../../shared/errors.js';

export interface TeardownOptions {
  log: Logger;
  /** How the nodes are logged in to (shared/kube/users-secret.ts). */
  login: Pick<PoolOptions, 'password' | 'username' | 'fallback'>;
  /** TLS to the nodes, when the cluster serves it. */
  tls?: ConnectionOptions;
  finalizer: string;
  /** Bound of the whole Redis part. */
  resetTimeoutMs?: number;
}

async function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<undefined>((resolve) => {
        timer = globalThis.setTimeout(resolve, ms) as unknown as NodeJS.Timeout;
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function teardown(kube: Kube, cr: RedisCluster, opts: TeardownOptions): Promise<void> {
  const namespace = cr.metadata.namespace!;
  const name = cr.metadata.name!;
  const { log } = opts;
  const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: selectorFor(name) })).items;

  const pool = new RedisPool({
    ...opts.login,
    ...(opts.tls ? { tls: opts.tls } : {}),
    connectTimeoutMs: 500,
    commandTimeoutMs: 1000,
  });
  try {
    const resets = pods
      .filter((p) => p.status?.podIP && !p.metadata?.deletionTimestamp)
      .map(async (p) => {
        const port = p.spec?.containers.find((c) => c.name === 'redis')?.ports?.find((x) => x.name === 'redis')?.containerPort;
        if (!port) return;
        const ep = { ip: p.status!.podIP!, port };
        // A master with keys refuses RESET; its data goes with the cluster anyway.
        await pool.call(ep, 'FLUSHALL').catch(() => undefined);
        await pool.call(ep, 'CLUSTER', 'RESET', 'HARD');
      });
    const settled = await within(opts.resetTimeoutMs ?? 5000, Promise.allSettled(resets));
    log.info(
      { nodes: resets.length, answered: settled?.filter((r) => r.status === 'fulfilled').length ?? 0 },
      'nodes reset before deletion',
    );
  } finally {
    await pool.close();
  }

  for (const p of pods) await kube.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.metadata!.name!, namespace } });
  const claims = (await kube.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selectorFor(name) })).items;
  for (const c of claims)
    await kube.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: c.metadata!.name!, namespace } });

  // Re-read for a fresh resourceVersion: the write is conditional, a race gets 409 and a retry.
  const current = await kube.getCluster<RedisCluster>({ namespace, name });
  if (!current) return;
  const finalizers = current.metadata.finalizers ?? [];
  if (!finalizers.includes(opts.finalizer)) return;
  try {
    await kube.patchCluster(
      { namespace, name },
      { metadata: { finalizers: finalizers.filter((f) => f !== opts.finalizer) } },
      current.metadata.resourceVersion,
    );
  } catch (err) {
    if (isNotFound(err)) return;
    if (isConflict(err)) throw new RetryError(`removing the finalizer raced another write: ${errorMessage(err)}`, 409);
    throw err;
  }
  log.info({ pods: pods.length, claims: claims.length }, 'cluster torn down, finalizer removed');
}
