// Knative Eventing on the local platform: Broker ingress, Trigger filtering and delivery (retries,
// dead letters, replies), ApiServerSource, PingSource and SinkBinding, all driven by the objects
// stored in the API server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEvent } from 'cloudevents';
import { deliveryPolicy, effectiveDelivery, type DeliverySpec } from './delivery.js';
import { triggerMatches, validateTriggerFilters, type TriggerFilterSpec } from './filters.js';
import { labelSelectorString, matchesLabelSelector, type LabelSelector } from '../apiserver/selectors.js';
import { readyCondition, sameStatus } from '../conditions.js';
import { KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';
import { resolveDestination, type Destination } from './resolve.js';
import { sourceClient } from './source-identity.js';
import { deadLetterEvent, deliverWithRetry, eventAttributes, parseCloudEvent } from './send.js';
import { apiServerSourceEvent, nextPing, pingEvent, validatePingSchedule, type ApiServerChange, type PingSourceSpec } from './sources.js';
import { isConditionTrue } from '../../shared/kube/conditions.js';

export const BROKER_TTL = 255;
const EVENTING = 'eventing.knative.dev/v1';
const SOURCES = 'sources.knative.dev/v1';

export interface EventingOptions {
  apiUrl: string;
  host?: string;
  /** Broker ingress port; 8002 by default, 0 picks a free one. */
  port?: number;
  /** Fire every PingSource at this interval instead of its cron schedule (env LOCAL_PING_INTERVAL_MS). */
  pingIntervalMs?: number;
  log?: (msg: string) => void;
}

export interface SinkBindingSubject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  labels?: Record<string, string>;
}

export interface Eventing {
  /** Broker ingress base URL; a Broker's address is `<url>/<namespace>/<broker>`. */
  url: string;
  port: number;
  brokerUrl(namespace: string, name: string): string;
  /** `K_SINK` (and `K_CE_OVERRIDES`) from the SinkBinding whose subject is this object; empty when none. */
  sinkBindingEnv(subject: SinkBindingSubject): Promise<Record<string, string>>;
  /**
   * Closes the Broker ingress (as when Knative's broker-ingress has no ready Pod): senders get
   * connection refused; Triggers, sources and deliveries in flight go on.
   */
  stopIngress(): Promise<void>;
  /** Listens again on the same port, so every resolved Broker address (K_SINK) works again. */
  startIngress(): Promise<void>;
  stop(): Promise<void>;
}

const key = (o: KubeObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, message?: string): void {
  if (message === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
}

export async function startEventing(opts: EventingOptions): Promise<Eventing> {
  const kube = new KubeRest(opts.apiUrl);
  const log = opts.log ?? (() => undefined);
  const envInterval = Number(process.env.LOCAL_PING_INTERVAL_MS);
  const pingIntervalMs = opts.pingIntervalMs ?? (Number.isFinite(envInterval) && envInterval > 0 ? envInterval : undefined);
  let stopped = false;
  const inflight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>): void => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  const brokers = new Map<string, KubeObject>();
  const triggers = new Map<string, KubeObject>();
  const bindings = new Map<string, KubeObject>();
  const namespaces = new Map<string, KubeObject>();
  const watches: WatchHandle[] = [];

  // --- Broker ingress ---------------------------------------------------------------------------
  const server: Server = createServer((req, res) => {
    void (async () => {
      const parts = (req.url ?? '/').split('?')[0]!.split('/').filter(Boolean);
      if (parts.length !== 2) return answer(res, 404, 'POST /<namespace>/<broker>');
      if (req.method !== 'POST') return answer(res, 405, 'only POST is accepted');
      const [ns, name] = parts.map(decodeURIComponent) as [string, string];
      if (!brokers.has(`${ns}/${name}`)) return answer(res, 404, `broker ${ns}/${name} not found`);
      const body = await readBody(req);
      let ev: CloudEvent<unknown>;
      try {
        ev = parseCloudEvent(req.headers, body);
      } catch (err) {
        return answer(res, 400, `not a valid CloudEvent: ${(err as Error).message}`);
      }
      if (ev.knativebrokerttl === undefined) ev = ev.cloneWith({ knativebrokerttl: BROKER_TTL } as never, false);
      answer(res, 202);
      dispatch(ns, name, ev);
    })().catch((err) => {
      log(`eventing: ingress error: ${(err as Error).message}`);
      if (!res.headersSent) answer(res, 500, 'internal error');
    });
  });
  const listen = (at: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const closeIngress = (): Promise<void> =>
    new Promise<void>((resolve) => {
      // The callback gets an error when the ingress is already closed: closed either way.
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen(opts.port ?? 8002);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  const brokerUrl = (ns: string, name: string): string => `${url}/${ns}/${name}`;

  // --- Trigger dispatch -------------------------------------------------------------------------
  function dispatch(ns: string, brokerName: string, ev: CloudEvent<unknown>): void {
    if (stopped) return;
    const broker = brokers.get(`${ns}/${brokerName}`);
    if (!broker) return;
    const attrs = eventAttributes(ev);
    for (const t of triggers.values()) {
      if (t.metadata?.namespace !== ns || t.spec?.broker !== brokerName) continue;
      let matches: boolean;
      try {
        matches = triggerMatches(t.spec as TriggerFilterSpec, attrs);
      } catch {
        matches = false;
      }
      if (matches) track(deliver(broker, t, ev));
    }
  }

  async function deliver(broker: KubeObject, trigger: KubeObject, ev: CloudEvent<unknown>): Promise<void> {
    const ns = trigger.metadata!.namespace!;
    const tname = `trigger ${ns}/${trigger.metadata!.name}`;
    const spec: DeliverySpec = effectiveDelivery(trigger.spec?.delivery, broker.spec?.delivery);
    let policy;
    try {
      policy = deliveryPolicy(spec);
    } catch (err) {
      log(`eventing: ${tname}: ${(err as Error).message}`);
      return;
    }
    let target: string;
    let outcome;
    try {
      target =
        resolved(trigger, 'subscriberUri') ??
        (await resolveDestination(kube, ns, trigger.spec?.subscriber as Destination, 'spec.subscriber'));
      outcome = await deliverWithRetry(target, ev, policy, () => stopped);
    } catch (err) {
      target = 'unresolved';
      outcome = { attempts: 1, result: { ok: false, body: '', error: (err as Error).message } };
    }
    const { result, attempts } = outcome;
    if (result.ok) {
      if (result.reply) reenqueue(ns, broker.metadata!.name!, ev, result.reply);
      return;
    }
    log(`eventing: ${tname}: ${ev.type} ${ev.id} failed after ${attempts} attempt(s): ${result.error ?? result.status}`);
    if (!spec.deadLetterSink || stopped) return;
    try {
      const dls =
        resolved(trigger, 'deadLetterSinkUri') ?? (await resolveDestination(kube, ns, spec.deadLetterSink, 'spec.delivery.deadLetterSink'));
      const dl = await deliverWithRetry(dls, deadLetterEvent(ev, target, result), policy, () => stopped);
      if (!dl.result.ok) log(`eventing: ${tname}: dead-letter sink refused ${ev.id}: ${dl.result.error ?? dl.result.status}`);
    } catch (err) {
      log(`eventing: ${tname}: ${(err as Error).message}`);
    }
  }

  /**
   * An address the Trigger's reconciler resolved for its current generation. The dispatcher sends
   * to these, as Knative's does, so delivery goes on while the API server is down.
   */
  function resolved(trigger: KubeObject, field: 'subscriberUri' | 'deadLetterSinkUri'): string | undefined {
    const current = trigger.status?.observedGeneration === trigger.metadata?.generation;
    return current ? (trigger.status?.[field] as string | undefined) : undefined;
  }

  function reenqueue(ns: string, brokerName: string, original: CloudEvent<unknown>, reply: CloudEvent<unknown>): void {
    const ttl = Number(original.knativebrokerttl ?? BROKER_TTL) - 1;
    if (!(ttl > 0)) {
      log(`eventing: reply ${reply.type} ${reply.id} dropped: knativebrokerttl exhausted`);
      return;
    }
    dispatch(ns, brokerName, reply.cloneWith({ knativebrokerttl: ttl } as never, false));
  }

  // --- Sending from sources ---------------------------------------------------------------------
  /** Sources send in order, a few attempts each (the sink may be starting). */
  function sourceSender(owner: () => KubeObject): (ev: CloudEvent<unknown>) => void {
    let chain: Promise<void> = Promise.resolve();
    return (ev) => {
      chain = chain.then(async () => {
        if (stopped) return;
        const src = owner();
        const ns = src.metadata!.namespace!;
        const what = `${src.kind} ${ns}/${src.metadata!.name}`;
        try {
          const overrides = src.spec?.ceOverrides?.extensions as Record<string, string> | undefined;
          const out = overrides ? ev.cloneWith(overrides as never, false) : ev;
          const sink = await resolveDestination(kube, ns, src.spec?.sink as Destination, 'spec.sink');
          const { result } = await deliverWithRetry(
            sink,
            out,
            { retry: 3, backoffPolicy: 'exponential', backoffDelayMs: 100, timeoutMs: 30_000 },
            () => stopped,
          );
          if (!result.ok) log(`eventing: ${what}: ${ev.type} not delivered: ${result.error ?? result.status}`);
        } catch (err) {
          log(`eventing: ${what}: ${(err as Error).message}`);
        }
      });
      track(chain);
    };
  }

  async function writeStatus(obj: KubeObject, status: Record<string, unknown>): Promise<void> {
    const next = { ...(obj.status ?? {}), ...status, observedGeneration: obj.metadata?.generation };
    if (sameStatus(obj.status, next)) return;
    try {
      await kube.patchStatus(obj, next);
    } catch (err) {
      log(`eventing: status of ${obj.kind} ${key(obj)}: ${(err as Error).message}`);
    }
  }

  async function sinkStatus(obj: KubeObject, ready: boolean, reason?: string, message?: string): Promise<void> {
    let sinkUri: string | undefined;
    try {
      sinkUri = await resolveDestination(kube, obj.metadata!.namespace!, obj.spec?.sink as Destination, 'spec.sink');
    } catch (err) {
      if (ready) {
        ready = false;
        reason = 'SinkNotResolved';
        message = (err as Error).message;
      }
    }
    await writeStatus(obj, { ...(sinkUri ? { sinkUri } : {}), conditions: [readyCondition(ready, reason, message)] });
  }

  // --- ApiServerSource --------------------------------------------------------------------------
  const apiSources = new Map<string, { spec: string; obj: KubeObject; watches: WatchHandle[] }>();

  function startApiServerSource(obj: KubeObject): void {
    const k = key(obj);
    const specText = JSON.stringify(obj.spec ?? {});
    const existing = apiSources.get(k);
    if (existing && existing.spec === specText) {
      existing.obj = obj;
      return;
    }
    existing?.watches.forEach((w) => w.stop());
    const entry = { spec: specText, obj, watches: [] as WatchHandle[] };
    apiSources.set(k, entry);
    const ns = obj.metadata!.namespace!;
    const mode = (obj.spec?.mode ?? 'Reference') as string;
    const resources = (obj.spec?.resources ?? []) as { apiVersion?: string; kind?: string; selector?: LabelSelector }[];
    const nsSelector = obj.spec?.namespaceSelector as LabelSelector | undefined;
    const problem =
      mode !== 'Reference' && mode !== 'Resource'
        ? `spec.mode: must be Reference or Resource, got ${JSON.stringify(mode)}`
        : resources.length === 0
          ? 'spec.resources: at least one resource is required'
          : resources.findIndex((r) => !r.apiVersion || !r.kind) >= 0
            ? `spec.resources[${resources.findIndex((r) => !r.apiVersion || !r.kind)}]: apiVersion and kind are required`
            : undefined;
    if (problem) {
      void sinkStatus(obj, false, 'InvalidSpec', problem);
      return;
    }
    const send = sourceSender(() => entry.obj);
    const adapter = sourceClient(kube, obj);
    const inScope = (o: KubeObject): boolean => {
      const ons = o.metadata?.namespace;
      if (!ons) return true;
      // Without a namespaceSelector the watch itself keeps to the source's own namespace.
      return matchesLabelSelector(namespaces.get(`/${ons}`)?.metadata?.labels, nsSelector, 'everything');
    };
    for (const r of resources) {
      let labelSelector: string;
      try {
        labelSelector = labelSelectorString(r.selector);
      } catch (err) {
        void sinkStatus(obj, false, 'InvalidSpec', (err as Error).message);
        return;
      }
      const emit = (change: ApiServerChange, o: KubeObject): void => {
        if (!inScope(o) || !matchesLabelSelector(o.metadata?.labels, r.selector, 'everything')) return;
        void adapter
          .resourceFor(r.apiVersion!, r.kind!)
          .then((info) => send(apiServerSourceEvent(mode as 'Reference' | 'Resource', change, o, opts.apiUrl, info.plural)));
      };
      entry.watches.push(
        adapter.watch(r.apiVersion!, r.kind!, {
          namespace: nsSelector === undefined ? ns : undefined,
          labelSelector: labelSelector || undefined,
          onEvent: (type, o) => emit(type === 'ADDED' ? 'add' : type === 'MODIFIED' ? 'update' : 'delete', o),
          onError: (err) => log(`eventing: ApiServerSource ${k}: watch ${r.kind}: ${(err as Error).message}`),
        }),
      );
    }
    void Promise.all(entry.watches.map((w) => w.ready)).then(() => {
      if (apiSources.get(k) === entry) return sinkStatus(entry.obj, true);
    });
  }

  function stopApiServerSource(k: string): void {
    apiSources.get(k)?.watches.forEach((w) => w.stop());
    apiSources.delete(k);
  }

  // --- PingSource -------------------------------------------------------------------------------
  const pings = new Map<string, { spec: string; obj: KubeObject; timer?: NodeJS.Timeout }>();

  function startPingSource(obj: KubeObject): void {
    const k = key(obj);
    const specText = JSON.stringify(obj.spec ?? {});
    const existing = pings.get(k);
    if (existing && existing.spec === specText) {
      existing.obj = obj;
      return;
    }
    if (existing?.timer) clearTimeout(existing.timer);
    const entry: { spec: string; obj: KubeObject; timer?: NodeJS.Timeout } = { spec: specText, obj };
    pings.set(k, entry);
    const spec = (obj.spec ?? {}) as PingSourceSpec;
    try {
      validatePingSchedule(spec);
    } catch (err) {
      void sinkStatus(obj, false, 'InvalidSchedule', (err as Error).message);
      return;
    }
    const send = sourceSender(() => entry.obj);
    const schedule = (): void => {
      if (stopped || pings.get(k) !== entry) return;
      const wait = pingIntervalMs ?? Math.max(0, nextPing(spec, new Date()).getTime() - Date.now());
      entry.timer = setTimeout(() => {
        if (stopped || pings.get(k) !== entry) return;
        send(pingEvent(entry.obj.metadata!.namespace!, entry.obj.metadata!.name!, spec));
        schedule();
      }, wait);
    };
    schedule();
    void sinkStatus(obj, true);
  }

  function stopPingSource(k: string): void {
    const e = pings.get(k);
    if (e?.timer) clearTimeout(e.timer);
    pings.delete(k);
  }

  // --- Reconcilers ------------------------------------------------------------------------------
  async function reconcileBroker(b: KubeObject): Promise<void> {
    const address = brokerUrl(b.metadata!.namespace!, b.metadata!.name!);
    await writeStatus(b, { address: { url: address }, conditions: [readyCondition(true)] });
  }

  async function reconcileTrigger(t: KubeObject): Promise<void> {
    const ns = t.metadata!.namespace!;
    let problem: string | undefined;
    let reason: string | undefined;
    try {
      if (!t.spec?.broker) throw new Error('spec.broker: is required');
      validateTriggerFilters(t.spec as TriggerFilterSpec);
      deliveryPolicy(t.spec?.delivery, 'spec.delivery');
    } catch (err) {
      problem = (err as Error).message;
      reason = 'InvalidSpec';
    }
    let subscriberUri: string | undefined;
    try {
      subscriberUri = await resolveDestination(kube, ns, t.spec?.subscriber as Destination, 'spec.subscriber');
    } catch (err) {
      if (!problem) {
        problem = (err as Error).message;
        reason = 'SubscriberNotResolved';
      }
    }
    const broker = brokers.get(`${ns}/${t.spec?.broker}`);
    if (!problem && !broker) {
      problem = `spec.broker: broker ${ns}/${t.spec.broker} not found`;
      reason = 'BrokerDoesNotExist';
    }
    let deadLetterSinkUri: string | undefined;
    const deadLetterSink = effectiveDelivery(t.spec?.delivery, broker?.spec?.delivery).deadLetterSink;
    if (deadLetterSink) {
      try {
        deadLetterSinkUri = await resolveDestination(kube, ns, deadLetterSink, 'spec.delivery.deadLetterSink');
      } catch (err) {
        if (!problem) {
          problem = (err as Error).message;
          reason = 'DeadLetterSinkResolveFailed';
        }
      }
    }
    await writeStatus(t, {
      ...(subscriberUri ? { subscriberUri } : {}),
      deadLetterSinkUri, // undefined drops one that no longer applies
      conditions: [readyCondition(!problem, reason, problem)],
    });
  }

  async function reconcileSinkBinding(b: KubeObject): Promise<void> {
    if (!b.spec?.subject?.kind || !b.spec?.subject?.apiVersion) {
      await sinkStatus(b, false, 'InvalidSpec', 'spec.subject: apiVersion and kind are required');
      return;
    }
    await sinkStatus(b, true);
  }

  const reconcile = (what: string, fn: () => Promise<void>): void => {
    track(fn().catch((err) => log(`eventing: ${what}: ${(err as Error).message}`)));
  };

  const cacheWatch = (
    apiVersion: string,
    kind: string,
    cache: Map<string, KubeObject>,
    onChange?: (o: KubeObject) => void,
    onDelete?: (o: KubeObject) => void,
  ): WatchHandle =>
    kube.watch(apiVersion, kind, {
      onList: (items) => {
        for (const o of items) {
          cache.set(key(o), o);
          onChange?.(o);
        }
      },
      onEvent: (type, o) => {
        if (type === 'DELETED') {
          cache.delete(key(o));
          onDelete?.(o);
        } else {
          cache.set(key(o), o);
          onChange?.(o);
        }
      },
      onError: (err) => log(`eventing: watch ${kind}: ${(err as Error).message}`),
    });

  watches.push(
    cacheWatch('v1', 'Namespace', namespaces),
    cacheWatch(EVENTING, 'Broker', brokers, (b) => {
      reconcile(`Broker ${key(b)}`, () => reconcileBroker(b));
      for (const t of triggers.values())
        if (t.metadata?.namespace === b.metadata?.namespace) reconcile(`Trigger ${key(t)}`, () => reconcileTrigger(t));
    }),
    cacheWatch(EVENTING, 'Trigger', triggers, (t) => reconcile(`Trigger ${key(t)}`, () => reconcileTrigger(t))),
    cacheWatch(SOURCES, 'SinkBinding', bindings, (b) => reconcile(`SinkBinding ${key(b)}`, () => reconcileSinkBinding(b))),
    cacheWatch(SOURCES, 'ApiServerSource', new Map(), startApiServerSource, (o) => stopApiServerSource(key(o))),
    cacheWatch(SOURCES, 'PingSource', new Map(), startPingSource, (o) => stopPingSource(key(o))),
  );
  await Promise.all(watches.map((w) => w.ready));
  // A Trigger or SinkBinding whose Knative Service was not addressable yet becomes Ready when it is.
  watches.push(
    cacheWatch('serving.knative.dev/v1', 'Service', new Map(), (svc) => {
      const ns = svc.metadata?.namespace;
      const notReady = (o: KubeObject): boolean => o.metadata?.namespace === ns && !isConditionTrue(o.status?.conditions, 'Ready');
      for (const t of triggers.values()) if (notReady(t)) reconcile(`Trigger ${key(t)}`, () => reconcileTrigger(t));
      for (const b of bindings.values()) if (notReady(b)) reconcile(`SinkBinding ${key(b)}`, () => reconcileSinkBinding(b));
    }),
  );

  return {
    url,
    port,
    brokerUrl,
    async sinkBindingEnv(subject) {
      for (const b of bindings.values()) {
        if (b.metadata?.namespace !== subject.namespace) continue;
        const s = b.spec?.subject ?? {};
        if (s.apiVersion !== subject.apiVersion || s.kind !== subject.kind) continue;
        if (s.namespace && s.namespace !== subject.namespace) continue;
        if (s.name ? s.name !== subject.name : !matchesLabelSelector(subject.labels, s.selector, 'nothing')) continue;
        const env: Record<string, string> = {
          K_SINK: await resolveDestination(kube, subject.namespace, b.spec?.sink as Destination, `SinkBinding ${key(b)} spec.sink`),
        };
        if (b.spec?.ceOverrides) env.K_CE_OVERRIDES = JSON.stringify(b.spec.ceOverrides);
        return env;
      }
      return {};
    },
    stopIngress: closeIngress,
    async startIngress() {
      if (server.listening || stopped) return;
      await listen(port);
    },
    async stop() {
      stopped = true;
      watches.forEach((w) => w.stop());
      for (const k of [...apiSources.keys()]) stopApiServerSource(k);
      for (const k of [...pings.keys()]) stopPingSource(k);
      await closeIngress();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}
