// `release`: what the chart's post-delete hook runs once helm has removed the operator. Every
// RedisCluster keeps running, unmanaged, and loses our finalizer, so a later `kubectl delete`
// completes (its Pods and claims go with it by their owner references) instead of waiting for an
// operator that is no longer there.
import type { Logger } from 'pino';
import type { RedisCluster } from '../../shared/api/index.js';
import { isConflict, isNotFound, type Kube } from '../../shared/kube/index.js';
import { FINALIZER } from './reconcile.js';

export interface ReleaseOutcome {
  released: string[];
}

/** Removes FINALIZER from every RedisCluster; a write that races another is read again and retried. */
export async function releaseClusters(kube: Kube, log: Logger, attempts = 5): Promise<ReleaseOutcome> {
  const released: string[] = [];
  for (const listed of await kube.listClusters<RedisCluster>()) {
    const ref = { namespace: listed.metadata.namespace!, name: listed.metadata.name! };
    for (let attempt = 1; ; attempt++) {
      const cr = await kube.getCluster<RedisCluster>(ref);
      const finalizers = cr?.metadata.finalizers ?? [];
      if (!cr || !finalizers.includes(FINALIZER)) break;
      try {
        await kube.patchCluster(ref, { metadata: { finalizers: finalizers.filter((f) => f !== FINALIZER) } }, cr.metadata.resourceVersion);
        released.push(`${ref.namespace}/${ref.name}`);
        break;
      } catch (err) {
        if (isNotFound(err)) break;
        if (!isConflict(err) || attempt >= attempts) throw err;
      }
    }
  }
  log.info({ released }, 'RedisClusters released from the operator');
  return { released };
}
