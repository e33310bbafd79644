// KEDA on the embedded platform: a controller for keda.sh/v1alpha1 ScaledObjects with prometheus
// triggers. Each ScaledObject is polled every pollingInterval; the count it decides goes to the
// target's /scale subresource, as KEDA's HPA writes it.
import { KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';
import { newHpaState } from './hpa.js';
import { syncScaledObject, type ScaledObjectState, type SyncContext } from './sync.js';

export { decide, newHpaState, recordScale, replicasForMetric, TOLERANCE } from './hpa.js';
export { executorReplicas, parseScaledObject } from './scaledobject.js';

export interface KedaOptions {
  apiUrl: string;
  log?: (msg: string) => void;
  /** Resolves a trigger's serverAddress (a Service name) to an address this process can reach. */
  resolveUrl?: (url: string, namespace: string) => Promise<string>;
  now?: () => number;
}

export interface Keda {
  /** Resolves once the ScaledObjects that existed at start are known. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

interface Entry extends ScaledObjectState {
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  again: boolean;
  stopped: boolean;
}

const keyOf = (o: KubeObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`;

function restoredState(obj: KubeObject): ScaledObjectState {
  const status = obj.status ?? {};
  const lastActive = status.lastActiveTime ? Date.parse(status.lastActiveTime) : NaN;
  return {
    obj,
    hpa: newHpaState(),
    failures: new Map(Object.entries(status.health ?? {}).map(([k, h]) => [k, Number((h as any)?.numberOfFailures ?? 0)])),
    lastActive: Number.isFinite(lastActive) ? lastActive : undefined,
    originalReplicaCount: typeof status.originalReplicaCount === 'number' ? status.originalReplicaCount : undefined,
  };
}

export async function startKeda(opts: KedaOptions): Promise<Keda> {
  const kube = new KubeRest(opts.apiUrl.replace(/\/+$/, ''));
  const log = opts.log ?? (() => undefined);
  const entries = new Map<string, Entry>();
  const ctx = (self: Entry): SyncContext => ({
    kube,
    log,
    now: opts.now ?? Date.now,
    resolveUrl: opts.resolveUrl ?? (async (url) => url),
    others: () => [...entries.values()].filter((e) => e !== self).map((e) => e.obj),
  });

  const run = (e: Entry): void => {
    if (e.stopped) return;
    if (e.running) {
      e.again = true;
      return;
    }
    clearTimeout(e.timer);
    e.running = (async () => {
      let next = Number(e.obj.spec?.pollingInterval ?? 30);
      try {
        next = await syncScaledObject(ctx(e), e);
      } catch (err) {
        log(`${keyOf(e.obj)}: ${(err as Error).message}`);
      }
      e.running = undefined;
      if (e.stopped) return;
      if (e.again) {
        e.again = false;
        run(e);
      } else {
        e.timer = setTimeout(() => run(e), next * 1000);
      }
    })();
  };

  const upsert = (obj: KubeObject): void => {
    const key = keyOf(obj);
    const known = entries.get(key);
    if (!known || known.obj.metadata?.uid !== obj.metadata?.uid) {
      if (known) remove(known.obj);
      const e: Entry = { ...restoredState(obj), again: false, stopped: false };
      entries.set(key, e);
      run(e);
      return;
    }
    const specChanged = known.obj.metadata?.generation !== obj.metadata?.generation;
    known.obj = obj;
    if (specChanged) run(known);
  };

  const remove = (obj: KubeObject): void => {
    const e = entries.get(keyOf(obj));
    if (!e) return;
    e.stopped = true;
    clearTimeout(e.timer);
    entries.delete(keyOf(obj));
    // A ScaledObject refused for an older one on the same target may now act.
    for (const other of entries.values()) run(other);
  };

  const watch: WatchHandle = kube.watch('keda.sh/v1alpha1', 'ScaledObject', {
    onList: (items) => items.forEach(upsert),
    onEvent: (type, obj) => (type === 'DELETED' ? remove(obj) : upsert(obj)),
    onError: (err) => log(`watch ScaledObjects: ${(err as Error).message}`),
  });

  return {
    ready: watch.ready,
    async stop() {
      watch.stop();
      const running = [...entries.values()].map((e) => {
        e.stopped = true;
        clearTimeout(e.timer);
        return e.running;
      });
      entries.clear();
      await Promise.all(running);
    },
  };
}
