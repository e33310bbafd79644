// Which cluster an event is about, and one pass per cluster at a time in this process: events that
// arrive while a pass runs join the one pass queued behind it (level-based: one more look suffices).
import { hostname } from 'node:os';
import type { CloudEventV1 } from 'cloudevents';
import { PING, REF_PREFIX, RESHARD_COMPLETED, RESOURCE_PREFIX, type ClusterRef } from '../../shared/events/catalog.js';
import { clusterOf, type ParsedEvent } from '../../shared/events/codec.js';
import { clusterNameOfPod, createEventRecorder, isConflict, Kube, type ObjectRef } from '../../shared/kube/index.js';
import { ack, reply, retry, type Handler, type HandlerContext, type HandlerResult, type Handlers } from '../../shared/runtime/host.js';
import { RetryError } from './errors.js';
import type { NetworkPolicyOptions } from './network-policy.js';
import { reconcileCluster, type PassResult, type ReconcileDeps } from './reconcile.js';
import { errorMessage } from '../../shared/errors.js';

export interface ReconcileOptions {
  kube?: Kube;
  passBudgetMs?: number;
  leaseDurationSeconds?: number;
  networkPolicy?: NetworkPolicyOptions;
  /** Most time a resync spends; clusters left over wait for the next ping. */
  resyncBudgetMs?: number;
}

const key = (ref: ObjectRef) => `${ref.namespace}/${ref.name}`;

/** One running pass per cluster, and at most one queued behind it. */
export class ClusterQueue {
  private readonly running = new Map<string, Promise<PassResult>>();
  private readonly queued = new Map<string, Promise<PassResult>>();

  isBusy(ref: ObjectRef): boolean {
    return this.running.has(key(ref));
  }

  run(ref: ObjectRef, pass: () => Promise<PassResult>): Promise<PassResult> {
    const k = key(ref);
    const current = this.running.get(k);
    if (!current) return this.start(k, pass);
    const waiting = this.queued.get(k);
    if (waiting) return waiting;
    const next = current
      .catch(() => undefined)
      .then(() => {
        this.queued.delete(k);
        return this.start(k, pass);
      });
    this.queued.set(k, next);
    return next;
  }

  private start(k: string, pass: () => Promise<PassResult>): Promise<PassResult> {
    const p = pass().finally(() => {
      if (this.running.get(k) === p) this.running.delete(k);
    });
    this.running.set(k, p);
    return p;
  }
}

export function createReconcileHandlers(opts: ReconcileOptions = {}): Handlers {
  let kube = opts.kube;
  const queue = new ClusterQueue();
  const holder = `reconcile/${hostname()}/${process.pid}`;

  const deps = (ctx: HandlerContext): ReconcileDeps => {
    kube ??= new Kube();
    return {
      kube,
      recorder: createEventRecorder(kube, 'redis-operator-reconcile'),
      log: ctx.log,
      holder,
      source: ctx.source,
      ...(opts.passBudgetMs !== undefined ? { passBudgetMs: opts.passBudgetMs } : {}),
      ...(opts.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: opts.leaseDurationSeconds } : {}),
      ...(opts.networkPolicy ? { networkPolicy: opts.networkPolicy } : {}),
      ...(ctx.emitter ? { emit: async (event: CloudEventV1<unknown>) => void (await ctx.emitter!.send(event)) } : {}),
    };
  };

  const pass = async (ref: ClusterRef, ctx: HandlerContext): Promise<HandlerResult> => {
    try {
      const result = await queue.run(ref, () => reconcileCluster(ref, deps(ctx)));
      ctx.log.info({ result: result.kind, ...('phase' in result ? { phase: result.phase } : {}) }, 'reconciled');
      return result.kind === 'reshard' ? reply(result.event) : ack();
    } catch (err) {
      if (err instanceof RetryError) return retry(err.message, err.status);
      if (isConflict(err)) return retry(errorMessage(err), 409);
      ctx.log.error({ err: errorMessage(err) }, 'reconcile failed');
      return retry(`reconcile of ${key(ref)} failed: ${errorMessage(err)}`, 500);
    }
  };

  /** RedisCluster refs name the cluster; Pod refs name `<cluster>-<ordinal>`, whose cluster must exist. */
  const onObject: Handler = async (event, ctx) => {
    const direct = clusterOf(event);
    if (direct) return pass(direct, ctx);
    const data = event.data as { kind?: string; name?: string; namespace?: string; metadata?: { name?: string; namespace?: string } };
    const podName = data.name ?? data.metadata?.name;
    const namespace = data.namespace ?? data.metadata?.namespace;
    if (data.kind !== 'Pod' || !podName || !namespace) return ack();
    const clusterName = clusterNameOfPod(podName);
    if (!clusterName) return ack();
    kube ??= new Kube();
    const cr = await kube.getCluster({ namespace, name: clusterName }).catch(() => undefined);
    if (!cr) return ack();
    return pass({ namespace, name: clusterName }, ctx);
  };

  /** Resync: every cluster in turn, skipping those a pass here is already on, within a budget. */
  const onPing: Handler = async (_event, ctx) => {
    kube ??= new Kube();
    const clusters = await kube.listClusters<{ metadata?: { name?: string; namespace?: string } }>();
    const started = Date.now();
    const budget = opts.resyncBudgetMs ?? 200_000;
    for (const c of clusters) {
      const ref = { namespace: c.metadata?.namespace ?? '', name: c.metadata?.name ?? '' };
      if (!ref.namespace || !ref.name || queue.isBusy(ref)) continue;
      if (Date.now() - started > budget) break;
      try {
        const result = await queue.run(ref, () => reconcileCluster(ref, deps(ctx)));
        // One reply per request: requests found by a resync go to the Broker directly.
        if (result.kind === 'reshard' && ctx.emitter) await ctx.emitter.send(result.event as CloudEventV1<unknown>);
      } catch (err) {
        ctx.log.warn({ cluster: key(ref), err: errorMessage(err) }, 'resync of a cluster failed; the next event or ping retries');
      }
    }
    return ack();
  };

  const onReshardCompleted: Handler = async (event: ParsedEvent, ctx) => {
    const ref = clusterOf(event);
    return ref ? pass(ref, ctx) : ack();
  };

  return {
    [REF_PREFIX]: onObject,
    [RESOURCE_PREFIX]: onObject,
    [PING]: onPing,
    [RESHARD_COMPLETED]: onReshardCompleted,
  } as Handlers;
}
