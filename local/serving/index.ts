// Knative Serving on the local platform: each serving.knative.dev/v1 Service runs as at most one
// Pod of its latest revision (a user container behind Knative's queue-proxy, run by the kubelet),
// created by an activator on the first request (scale from zero), kept to containerConcurrency
// requests at a time, cut off after timeoutSeconds, and deleted after its idle window (scale to
// zero) unless min-scale keeps it up.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readyCondition, sameStatus } from '../conditions.js';
import { KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';
import { serviceSettings, type ServiceSettings } from './config.js';
import type { FunctionImages } from './images.js';
import { QUEUE_PORT, revisionPod } from './revision-pod.js';
import { setTimeout as sleep } from 'node:timers/promises';

export { functionNameFromImage } from './config.js';

const SERVING = 'serving.knative.dev/v1';
const SERVICE_LABEL = 'serving.knative.dev/service';

export interface ServingOptions {
  apiUrl: string;
  host?: string;
  /** Activator port; 8003 by default, 0 picks a free one. */
  port?: number;
  /** The images the kubelet runs for the Services (the same store it pulls from). */
  images: FunctionImages;
  /** Overrides every Service's `autoscaling.knative.dev/window` (env LOCAL_IDLE_WINDOW_MS). */
  idleWindowMs?: number;
  /** Time a new Pod has to answer its readiness path. */
  startTimeoutMs?: number;
  /** Extra environment for a Service's Pods, e.g. K_SINK from a SinkBinding. */
  envFor?: (svc: KubeObject) => Promise<Record<string, string>>;
  log?: (msg: string) => void;
}

export interface ServiceProcessInfo {
  /** The user container's process (its containerID is `local://<pid>`). */
  pid: number;
  pod: string;
  podIP: string;
  /** Where the Pod takes traffic: its queue-proxy. */
  port: number;
  startedAt: number;
  /** Milliseconds from creating the Pod to the first answer on the readiness path. */
  coldStartMs?: number;
}

export interface Serving {
  /** Activator base URL; a Service is at `<url>/<namespace>/<name>/`. */
  url: string;
  port: number;
  serviceUrl(namespace: string, name: string): string;
  /** The running instance of a Service, if any. */
  process(namespace: string, name: string): ServiceProcessInfo | undefined;
  stop(): Promise<void>;
}

interface UnitContext {
  opts: ServingOptions;
  kube: KubeRest;
  log: (m: string) => void;
  idleWindowMs?: number;
}

const userPid = (pod: KubeObject | undefined): number | undefined => {
  const id = (pod?.status?.containerStatuses ?? []).find((c: { name: string }) => c.name !== 'queue-proxy')?.containerID as
    string | undefined;
  const m = /^local:\/\/(\d+)$/.exec(id ?? '');
  return m ? Number(m[1]) : undefined;
};

/** Why a Pod will not come up without a change (the kubelet gave up on a container), if so. */
const podFailure = (pod: KubeObject): string | undefined => {
  if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') return `the Pod ended (${pod.status.phase})`;
  for (const c of pod.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w && ['ImageNotRunnable', 'CreateContainerConfigError', 'CrashLoopBackOff'].includes(w.reason))
      return `container ${c.name}: ${w.reason}: ${w.message ?? ''}`;
  }
  return undefined;
};

/** One Service: its settings, its Pod (at most one) and its request queue. */
class ServiceUnit {
  settings?: ServiceSettings;
  problem?: string;
  obj: KubeObject;
  /** The instance's Pod as last seen, while it exists. */
  pod?: KubeObject;
  podName?: string;
  ready?: { startedAt: number; coldStartMs: number };
  starting?: Promise<void>;
  stopping?: Promise<void>;
  active = 0;
  waiters: (() => void)[] = [];
  idleTimer?: NodeJS.Timeout;
  /** Spec changed while running: replace the Pod when idle. */
  stale = false;
  removed = false;

  constructor(
    obj: KubeObject,
    private readonly ctx: UnitContext,
  ) {
    this.obj = obj;
    this.update(obj);
  }

  get ns(): string {
    return this.obj.metadata!.namespace!;
  }
  get name(): string {
    return this.obj.metadata!.name!;
  }

  info(): ServiceProcessInfo | undefined {
    const pid = userPid(this.pod);
    if (!this.ready || !this.pod?.status?.podIP || pid === undefined) return undefined;
    return { pid, pod: this.podName!, podIP: this.pod.status.podIP, port: QUEUE_PORT, ...this.ready };
  }

  update(obj: KubeObject): void {
    const before = JSON.stringify(this.obj.spec);
    this.obj = obj;
    const images = this.ctx.opts.images;
    try {
      this.settings = serviceSettings(obj);
      this.problem = images.entryOf(this.settings.image)
        ? undefined
        : `spec.template.spec.containers[0].image: ${this.settings.image} maps to function "${this.settings.functionName}", but no ${this.settings.functionName}/index.ts exists under ${images.roots.join(', ')}`;
    } catch (err) {
      this.settings = undefined;
      this.problem = (err as Error).message;
    }
    if (this.settings && !this.problem) images.prefetch(this.settings.image);
    if (before !== JSON.stringify(obj.spec) && this.podName) {
      this.stale = true;
      if (this.active === 0) void this.stopInstance();
    }
    this.keepWarm();
  }

  /** min-scale > 0 keeps one Pod up, as the revision's Deployment would. */
  private keepWarm(): void {
    if (this.settings && this.settings.minScale > 0 && !this.problem && !this.removed)
      void this.ensureRunning().catch((e) => this.ctx.log(`serving: ${this.ns}/${this.name}: ${(e as Error).message}`));
    else this.scheduleIdle();
  }

  /** A watch event for one of this Service's Pods. */
  onPod(type: string, pod: KubeObject): void {
    if (pod.metadata?.name !== this.podName) return;
    if (type !== 'DELETED') {
      this.pod = pod;
      return;
    }
    this.pod = undefined;
    this.podName = undefined;
    this.ready = undefined;
    if (!this.stopping) this.keepWarm();
  }

  private windowMs(): number {
    return this.ctx.idleWindowMs ?? this.settings?.windowMs ?? 60_000;
  }

  async acquire(): Promise<void> {
    clearTimeout(this.idleTimer);
    const cc = this.settings?.containerConcurrency ?? 0;
    if (cc === 0 || this.active < cc) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      next(); // the slot passes on: active stays the same
      return;
    }
    this.active--;
    if (this.active === 0) {
      if (this.stale) void this.stopInstance();
      else this.scheduleIdle();
    }
  }

  private scheduleIdle(): void {
    clearTimeout(this.idleTimer);
    if (!this.podName || this.active > 0) return;
    if (this.settings && this.settings.minScale > 0 && !this.stale) return;
    this.idleTimer = setTimeout(() => {
      if (this.active === 0 && this.waiters.length === 0) {
        this.ctx.log(`serving: ${this.ns}/${this.name}: idle for ${this.windowMs()} ms, scaling to zero`);
        void this.stopInstance();
      }
    }, this.windowMs());
  }

  async ensureRunning(): Promise<ServiceProcessInfo> {
    if (this.stopping) await this.stopping;
    const running = this.info();
    if (running && !this.stale) return running;
    if (this.stale && this.podName) await this.stopInstance();
    this.starting ??= this.startInstance().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
    const info = this.info();
    if (!info) throw new Error('the Pod went away while starting');
    return info;
  }

  private async startInstance(): Promise<void> {
    const s = this.settings;
    if (!s || this.problem) throw new Error(this.problem ?? 'no settings');
    const extraEnv = this.ctx.opts.envFor ? await this.ctx.opts.envFor(this.obj) : {};
    const t0 = Date.now();
    const created = await this.ctx.kube.create(revisionPod(this.obj, s, extraEnv));
    const name = created.metadata!.name!;
    this.podName = name;
    this.pod ??= created;
    this.stale = false;
    this.ctx.log(`serving: ${this.ns}/${this.name}: created Pod ${name}`);
    const deadline = t0 + (this.ctx.opts.startTimeoutMs ?? 30_000);
    // As Knative's activator does, probe the Pod itself rather than wait for its Ready condition.
    for (;;) {
      if (this.podName !== name) throw new Error(`${this.ns}/${this.name}: Pod ${name} was deleted while starting`);
      const failure = this.pod && podFailure(this.pod);
      if (failure || Date.now() > deadline) {
        void this.stopInstance();
        throw new Error(
          `${this.ns}/${this.name}: Pod ${name} ${failure ?? `did not answer ${s.readinessPath} within ${deadline - t0} ms`}`,
        );
      }
      const podIP = this.pod?.status?.podIP as string | undefined;
      const status = podIP && userPid(this.pod) !== undefined ? await probe(podIP, QUEUE_PORT, s.readinessPath) : undefined;
      if (status !== undefined && status < 500) break;
      await sleep(25);
    }
    this.ready = { startedAt: t0, coldStartMs: Date.now() - t0 };
    this.ctx.log(`serving: ${this.ns}/${this.name}: Pod ${name} ready after ${this.ready.coldStartMs} ms`);
    this.scheduleIdle();
  }

  stopInstance(): Promise<void> {
    clearTimeout(this.idleTimer);
    const name = this.podName;
    if (!name) return Promise.resolve();
    this.podName = undefined;
    this.pod = undefined;
    this.ready = undefined;
    this.stopping ??= this.ctx.kube
      .delete('v1', 'Pod', name, this.ns)
      .catch((err) => this.ctx.log(`serving: ${this.ns}/${this.name}: deleting Pod ${name}: ${(err as Error).message}`))
      .finally(() => {
        this.stopping = undefined;
      });
    return this.stopping;
  }
}

function probe(host: string, port: number, path: string): Promise<number | undefined> {
  return new Promise((res) => {
    const req = httpRequest({ host, port, path, method: 'GET', timeout: 1000 }, (r) => {
      r.resume();
      res(r.statusCode);
    });
    req.on('error', () => res(undefined));
    req.on('timeout', () => {
      req.destroy();
      res(undefined);
    });
    req.end();
  });
}

function reply(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ message }));
}

export async function startServing(opts: ServingOptions): Promise<Serving> {
  const kube = new KubeRest(opts.apiUrl);
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const envIdle = Number(process.env.LOCAL_IDLE_WINDOW_MS);
  const idleWindowMs = opts.idleWindowMs ?? (Number.isFinite(envIdle) && envIdle > 0 ? envIdle : undefined);
  const units = new Map<string, ServiceUnit>();
  let stopped = false;

  /** Forwards one request to a Service's Pod (its queue-proxy), starting one when needed. */
  async function forward(unit: ServiceUnit, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (unit.problem) return reply(res, 503, `service ${unit.ns}/${unit.name} is not ready: ${unit.problem}`);
    await unit.acquire();
    let released = false;
    const release = (): void => {
      if (!released) {
        released = true;
        unit.release();
      }
    };
    res.once('close', release);
    // Queued before the platform began to stop: no new Pod after stop().
    if (stopped) {
      release();
      return reply(res, 503, 'shutting down');
    }
    let info: ServiceProcessInfo;
    try {
      info = await unit.ensureRunning();
    } catch (err) {
      release();
      return reply(res, 503, `service ${unit.ns}/${unit.name} could not start: ${(err as Error).message}`);
    }
    if (res.destroyed) return release();
    const timeoutMs = (unit.settings?.timeoutSeconds ?? 300) * 1000;
    await new Promise<void>((done) => {
      const upstream = httpRequest(
        { host: info.podIP, port: info.port, method: req.method, path, headers: { ...req.headers, host: `${info.podIP}:${info.port}` } },
        (ures) => {
          res.writeHead(ures.statusCode ?? 502, ures.headers);
          ures.pipe(res);
          ures.on('end', done);
          ures.on('error', done);
        },
      );
      const timer = setTimeout(() => {
        upstream.destroy();
        reply(res, 504, `service ${unit.ns}/${unit.name} did not answer within timeoutSeconds ${timeoutMs / 1000}`);
        done();
      }, timeoutMs);
      res.once('close', () => {
        clearTimeout(timer);
        upstream.destroy();
        done();
      });
      upstream.on('error', (err) => {
        clearTimeout(timer);
        reply(res, 502, `service ${unit.ns}/${unit.name}: ${err.message}`);
        done();
      });
      req.pipe(upstream);
    });
  }

  // Activator: path prefix `/<namespace>/<service>/...` (stripped), or Host `<service>.<namespace>[.…]`
  // as Knative's ingress routes a Service's cluster-local URL. A client using the activator as its
  // HTTP proxy sends the absolute form (`POST http://<service>.<namespace>.svc.cluster.local/...`):
  // its authority names the Service, as the Host header does.
  const activator: Server = createServer((req, res) => {
    if (stopped) return reply(res, 503, 'shutting down');
    let url = req.url ?? '/';
    let hostHeader = req.headers.host ?? '';
    if (/^https?:\/\//i.test(url)) {
      const absolute = new URL(url);
      hostHeader = absolute.host;
      url = `${absolute.pathname}${absolute.search}`;
    }
    let target: { unit: ServiceUnit; path: string } | undefined;
    const m = /^\/([^/?]+)\/([^/?]+)(.*)$/.exec(url);
    const byPath = m && units.get(`${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`);
    if (byPath) {
      const rest = m[3] ?? '';
      target = { unit: byPath, path: rest.startsWith('/') ? rest : `/${rest}` };
    } else {
      const labels = hostHeader.split(':')[0]!.split('.');
      const byHost = labels.length >= 2 ? units.get(`${labels[1]}/${labels[0]}`) : undefined;
      if (byHost) target = { unit: byHost, path: url };
    }
    if (!target) return reply(res, 404, `no Knative Service for ${url} (use /<namespace>/<service>/...)`);
    forward(target.unit, req, res, target.path).catch((err) => reply(res, 500, (err as Error).message));
  });

  const port = await new Promise<number>((res, rej) => {
    activator.once('error', rej);
    activator.listen(opts.port ?? 8003, host, () => res((activator.address() as AddressInfo).port));
  });
  const url = `http://${host}:${port}`;
  const serviceUrl = (ns: string, name: string): string => `${url}/${ns}/${name}`;

  async function writeStatus(unit: ServiceUnit): Promise<void> {
    const obj = unit.obj;
    const ok = !unit.problem;
    const address = serviceUrl(unit.ns, unit.name);
    const revision = unit.settings?.revision;
    const reason = ok ? undefined : 'RevisionMissing';
    const next = {
      ...(obj.status ?? {}),
      observedGeneration: obj.metadata?.generation,
      url: address,
      address: { url: address },
      ...(revision ? { latestCreatedRevisionName: revision, ...(ok ? { latestReadyRevisionName: revision } : {}) } : {}),
      traffic: revision ? [{ revisionName: revision, latestRevision: true, percent: 100 }] : [],
      conditions: [
        readyCondition(ok, reason, unit.problem, 'ConfigurationsReady'),
        readyCondition(ok, reason, unit.problem, 'Ready'),
        readyCondition(true, undefined, undefined, 'RoutesReady'),
      ],
    };
    if (sameStatus(obj.status, next)) return;
    try {
      await kube.patchStatus(obj, next);
    } catch (err) {
      log(`serving: status of ${unit.ns}/${unit.name}: ${(err as Error).message}`);
    }
  }

  // Revision Pods: the units follow their own; Pods left by an earlier run go (their Service
  // starts a new one when it needs one).
  let firstList = true;
  const podWatch: WatchHandle = kube.watch('v1', 'Pod', {
    labelSelector: SERVICE_LABEL,
    onList: async (items) => {
      for (const pod of items) {
        const unit = units.get(`${pod.metadata?.namespace}/${pod.metadata?.labels?.[SERVICE_LABEL]}`);
        if (unit) unit.onPod('MODIFIED', pod);
        else if (firstList) await kube.delete('v1', 'Pod', pod.metadata!.name!, pod.metadata!.namespace).catch(() => undefined);
      }
      firstList = false;
    },
    onEvent: (type, pod) => units.get(`${pod.metadata?.namespace}/${pod.metadata?.labels?.[SERVICE_LABEL]}`)?.onPod(type, pod),
    onError: (err) => log(`serving: pod watch: ${(err as Error).message}`),
  });
  await podWatch.ready;

  const watch: WatchHandle = kube.watch(SERVING, 'Service', {
    onList: (items) => items.forEach((o) => onService(o)),
    onEvent: (type, o) => {
      if (type === 'DELETED') {
        const k = `${o.metadata?.namespace}/${o.metadata?.name}`;
        const unit = units.get(k);
        units.delete(k);
        if (unit) unit.removed = true;
        void unit?.stopInstance();
      } else onService(o);
    },
    onError: (err) => log(`serving: watch: ${(err as Error).message}`),
  });

  function onService(o: KubeObject): void {
    if (stopped) return;
    const k = `${o.metadata?.namespace}/${o.metadata?.name}`;
    const existing = units.get(k);
    existing?.update(o);
    const unit = existing ?? new ServiceUnit(o, { opts, kube, log, ...(idleWindowMs ? { idleWindowMs } : {}) });
    units.set(k, unit);
    void writeStatus(unit);
  }

  await watch.ready;

  return {
    url,
    port,
    serviceUrl,
    process(ns, name) {
      return units.get(`${ns}/${name}`)?.info();
    },
    async stop() {
      stopped = true;
      watch.stop();
      podWatch.stop();
      for (const u of units.values()) clearTimeout(u.idleTimer);
      // The Pods stay: the kubelet stops their containers when the platform stops.
      await new Promise<void>((r) => {
        activator.close(() => r());
        activator.closeAllConnections();
      });
    },
  };
}
