// Knative Serving on the local platform: each serving.knative.dev/v1 Service runs as one Node
// process of the function its image names, started by an activator on the first request (scale
// from zero), kept to containerConcurrency requests at a time, cut off after timeoutSeconds, and
// stopped after its idle window (scale to zero) unless min-scale keeps it up.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kubeConfigYaml } from '../apiserver/kubeconfig.js';
import { readyCondition, sameStatus } from '../conditions.js';
import { KubeRest, type KubeObject, type WatchHandle } from '../apiserver/client.js';
import { entryFor, routeFor, serviceSettings, type EnvVar, type ServiceSettings } from './config.js';
import { FunctionBundles } from './bundles.js';
import { setTimeout as sleep } from 'node:timers/promises';

export { PATHS_ANNOTATION, functionNameFromImage } from './config.js';

const SERVING = 'serving.knative.dev/v1';

export interface ServingOptions {
  apiUrl: string;
  host?: string;
  /** Activator port; 8003 by default, 0 picks a free one. */
  port?: number;
  /** Front door port (routes by the `local.redis.redis/paths` annotation); 9090 by default, 0 picks one, null disables it. */
  frontDoorPort?: number | null;
  /** Logs and generated kubeconfigs go here. */
  stateDir: string;
  /** Overrides every Service's `autoscaling.knative.dev/window` (env LOCAL_IDLE_WINDOW_MS). */
  idleWindowMs?: number;
  /** Where function folders are looked up (`<root>/<fn>/index.ts`); default `<repo>/functions`. */
  functionRoots?: string[];
  /** Working directory of the function processes; default the repository root. */
  cwd?: string;
  /**
   * How a function process runs: `bundle` (default; the entry bundled as its image runs it) or
   * `tsx` (the TypeScript sources compiled at start-up; env LOCAL_FUNCTION_RUNTIME=tsx).
   */
  runtime?: 'bundle' | 'tsx';
  /** Where bundles are cached across runs; default node_modules/.cache/redis-operator-functions. */
  bundleCacheDir?: string;
  /** Time between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** Time a starting process has to answer its readiness path. */
  startTimeoutMs?: number;
  /** Extra environment for a Service's process, e.g. K_SINK from a SinkBinding. */
  envFor?: (svc: KubeObject) => Promise<Record<string, string>>;
  log?: (msg: string) => void;
}

export interface ServiceProcessInfo {
  pid: number;
  port: number;
  startedAt: number;
  /** Milliseconds from spawn to the first answer on the readiness path. */
  coldStartMs?: number;
}

export interface Serving {
  /** Activator base URL; a Service is at `<url>/<namespace>/<name>/`. */
  url: string;
  port: number;
  frontDoorUrl?: string;
  serviceUrl(namespace: string, name: string): string;
  /** The running process of a Service, if any. */
  process(namespace: string, name: string): ServiceProcessInfo | undefined;
  stop(): Promise<void>;
}

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const PARENT_GUARD = pathToFileURL(join(import.meta.dirname, 'parent-guard.mjs')).href;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => res(p));
    });
  });
}

/** One Service: its settings, its process (at most one) and its request queue. */
class ServiceUnit {
  settings?: ServiceSettings;
  problem?: string;
  obj: KubeObject;
  proc?: ChildProcess;
  info?: ServiceProcessInfo;
  starting?: Promise<void>;
  stopping?: Promise<void>;
  active = 0;
  waiters: (() => void)[] = [];
  idleTimer?: NodeJS.Timeout;
  /** Spec changed while running: restart when idle. */
  stale = false;

  constructor(
    obj: KubeObject,
    private readonly ctx: {
      opts: ServingOptions;
      kube: KubeRest;
      log: (m: string) => void;
      kubeconfigFor: (ns: string) => string;
      idleWindowMs?: number;
      /** Set when functions run as bundles. */
      bundles?: FunctionBundles;
    },
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

  update(obj: KubeObject): void {
    const before = JSON.stringify(this.obj.spec);
    this.obj = obj;
    try {
      this.settings = serviceSettings(obj);
      this.problem = entryFor(this.settings.functionName, this.roots())
        ? undefined
        : `spec.template.spec.containers[0].image: ${this.settings.image} maps to function "${this.settings.functionName}", but no ${this.settings.functionName}/index.ts exists under ${this.roots().join(', ')}`;
    } catch (err) {
      this.settings = undefined;
      this.problem = (err as Error).message;
    }
    // Built ahead, as an image is pulled before the first request needs it.
    if (this.settings && !this.problem)
      void this.ctx.bundles?.bundleFor(entryFor(this.settings.functionName, this.roots())!).catch(() => undefined);
    if (before !== JSON.stringify(obj.spec) && this.proc) {
      this.stale = true;
      if (this.active === 0) void this.stopProcess();
    }
    if (this.settings && this.settings.minScale > 0 && !this.problem)
      void this.ensureRunning().catch((e) => this.ctx.log(`serving: ${this.ns}/${this.name}: ${(e as Error).message}`));
    else this.scheduleIdle();
  }

  private roots(): string[] {
    return this.ctx.opts.functionRoots ?? [join(REPO_ROOT, 'functions')];
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
      if (this.stale) void this.stopProcess();
      else this.scheduleIdle();
    }
  }

  private scheduleIdle(): void {
    clearTimeout(this.idleTimer);
    if (!this.proc || this.active > 0) return;
    if (this.settings && this.settings.minScale > 0 && !this.stale) return;
    this.idleTimer = setTimeout(() => {
      if (this.active === 0 && this.waiters.length === 0) {
        this.ctx.log(`serving: ${this.ns}/${this.name}: idle for ${this.windowMs()} ms, scaling to zero`);
        void this.stopProcess();
      }
    }, this.windowMs());
  }

  async ensureRunning(): Promise<ServiceProcessInfo> {
    if (this.stopping) await this.stopping;
    if (this.proc && this.info && !this.stale) return this.info;
    if (this.stale && this.proc) await this.stopProcess();
    this.starting ??= this.startProcess().finally(() => {
      this.starting = undefined;
    });
    await this.starting;
    if (!this.info) throw new Error('the process exited while starting');
    return this.info;
  }

  private async resolveEnv(vars: EnvVar[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const v of vars) {
      if (v.value !== undefined) out[v.name] = v.value;
      else if (v.valueFrom?.secretKeyRef || v.valueFrom?.configMapKeyRef) {
        const secret = !!v.valueFrom.secretKeyRef;
        const ref = (v.valueFrom.secretKeyRef ?? v.valueFrom.configMapKeyRef)!;
        const obj = await this.ctx.kube.get('v1', secret ? 'Secret' : 'ConfigMap', ref.name, this.ns);
        const raw = (obj as { data?: Record<string, string> } | undefined)?.data?.[ref.key];
        if (raw === undefined) {
          if (ref.optional) continue;
          throw new Error(`env ${v.name}: ${secret ? 'Secret' : 'ConfigMap'} ${this.ns}/${ref.name} has no key ${ref.key}`);
        }
        out[v.name] = secret ? Buffer.from(raw, 'base64').toString('utf8') : raw;
      } else if (v.valueFrom?.fieldRef) {
        const f = v.valueFrom.fieldRef.fieldPath;
        if (f === 'metadata.namespace') out[v.name] = this.ns;
        else if (f === 'metadata.name') out[v.name] = `${this.settings!.revision}-local`;
      }
    }
    return out;
  }

  private async startProcess(): Promise<void> {
    const s = this.settings;
    if (!s || this.problem) throw new Error(this.problem ?? 'no settings');
    const entry = entryFor(s.functionName, this.roots())!;
    const port = await freePort();
    const base = { ...process.env };
    // Nothing of the platform's own environment decides where the function sends or connects.
    for (const k of ['K_SINK', 'K_CE_OVERRIDES', 'PORT', 'KUBECONFIG', 'NODE_OPTIONS', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID'])
      delete base[k];
    const env: Record<string, string | undefined> = {
      ...base,
      ...(await this.resolveEnv(s.env)),
      ...(this.ctx.opts.envFor ? await this.ctx.opts.envFor(this.obj) : {}),
      PORT: String(port),
      K_SERVICE: this.name,
      K_CONFIGURATION: this.name,
      K_REVISION: s.revision,
      KUBECONFIG: this.ctx.kubeconfigFor(this.ns),
    };
    const logDir = join(this.ctx.opts.stateDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const fd = openSync(join(logDir, `${this.ns}.${this.name}.log`), 'a');
    const bundle = this.ctx.bundles ? await this.ctx.bundles.bundleFor(entry) : undefined;
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      bundle ? ['--import', PARENT_GUARD, bundle] : ['--import', 'tsx', '--import', PARENT_GUARD, entry],
      {
        cwd: this.ctx.opts.cwd ?? REPO_ROOT,
        env,
        stdio: ['pipe', fd, fd],
      },
    );
    closeSync(fd);
    this.proc = child;
    this.stale = false;
    let exited = false;
    child.once('exit', (code, signal) => {
      exited = true;
      this.ctx.log(`serving: ${this.ns}/${this.name}: process ${child.pid} exited (${signal ?? code})`);
      if (this.proc === child) {
        this.proc = undefined;
        this.info = undefined;
      }
    });
    this.ctx.log(`serving: ${this.ns}/${this.name}: starting ${bundle ?? entry} (pid ${child.pid}, port ${port})`);
    const deadline = t0 + (this.ctx.opts.startTimeoutMs ?? 30_000);
    for (;;) {
      if (exited) throw new Error(`${this.ns}/${this.name}: the process exited before it answered (see its log)`);
      if (Date.now() > deadline) {
        void this.stopProcess();
        throw new Error(`${this.ns}/${this.name}: no answer on ${s.readinessPath} within ${deadline - t0} ms`);
      }
      const status = await probe(port, s.readinessPath);
      if (status !== undefined && status < 500) break;
      await sleep(25);
    }
    this.info = { pid: child.pid!, port, startedAt: t0, coldStartMs: Date.now() - t0 };
    this.ctx.log(`serving: ${this.ns}/${this.name}: ready after ${this.info.coldStartMs} ms`);
    this.scheduleIdle();
  }

  stopProcess(): Promise<void> {
    clearTimeout(this.idleTimer);
    const child = this.proc;
    if (!child) return Promise.resolve();
    this.stopping ??= (async () => {
      const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
      child.kill('SIGTERM');
      const grace = this.ctx.opts.stopGraceMs ?? 10_000;
      const killed = await Promise.race([exited.then(() => false), sleep(grace).then(() => true)]);
      if (killed) {
        child.kill('SIGKILL');
        await exited;
      }
      if (this.proc === child) {
        this.proc = undefined;
        this.info = undefined;
      }
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }
}

function probe(port: number, path: string): Promise<number | undefined> {
  return new Promise((res) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', timeout: 1000 }, (r) => {
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
  const runtime = opts.runtime ?? (process.env.LOCAL_FUNCTION_RUNTIME === 'tsx' ? 'tsx' : 'bundle');
  const bundles =
    runtime === 'bundle'
      ? new FunctionBundles(opts.bundleCacheDir ?? join(REPO_ROOT, 'node_modules', '.cache', 'redis-operator-functions'), log)
      : undefined;
  const units = new Map<string, ServiceUnit>();
  mkdirSync(opts.stateDir, { recursive: true });
  let stopped = false;

  const kubeconfigFor = (ns: string): string => {
    const file = join(opts.stateDir, `kubeconfig-${ns}.yaml`);
    writeFileSync(file, kubeConfigYaml(opts.apiUrl, ns));
    return file;
  };

  /** Forwards one request to a Service's process, starting it when needed. */
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
    // Queued before the platform began to stop: no new process after stop().
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
        { host: '127.0.0.1', port: info.port, method: req.method, path, headers: { ...req.headers, host: `127.0.0.1:${info.port}` } },
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

  const handle =
    (route: (req: IncomingMessage) => { unit: ServiceUnit; path: string } | string) => (req: IncomingMessage, res: ServerResponse) => {
      if (stopped) return reply(res, 503, 'shutting down');
      const r = route(req);
      if (typeof r === 'string') return reply(res, 404, r);
      forward(r.unit, req, res, r.path).catch((err) => reply(res, 500, (err as Error).message));
    };

  // Activator: path prefix `/<namespace>/<service>/...` (stripped), or Host `<service>.<namespace>[.…]`.
  const activator: Server = createServer(
    handle((req) => {
      const url = req.url ?? '/';
      const m = /^\/([^/?]+)\/([^/?]+)(.*)$/.exec(url);
      if (m) {
        const unit = units.get(`${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}`);
        if (unit) {
          const rest = m[3] ?? '';
          return { unit, path: rest.startsWith('/') ? rest : `/${rest}` };
        }
      }
      const labels = (req.headers.host ?? '').split(':')[0]!.split('.');
      if (labels.length >= 2) {
        const unit = units.get(`${labels[1]}/${labels[0]}`);
        if (unit) return { unit, path: url };
      }
      return `no Knative Service for ${url} (use /<namespace>/<service>/...)`;
    }),
  );
  // Front door: full paths routed by the Services' path annotation, passed on unchanged.
  const frontDoor: Server | undefined =
    opts.frontDoorPort === null
      ? undefined
      : createServer(
          handle((req) => {
            const url = req.url ?? '/';
            const pathname = url.split('?')[0]!;
            const routes = [...units.values()].flatMap((u) =>
              (u.settings?.paths ?? []).map((prefix) => ({ prefix, target: `${u.ns}/${u.name}` })),
            );
            const target = routeFor(pathname, routes);
            const unit = target ? units.get(target) : undefined;
            return unit ? { unit, path: url } : `no route for ${pathname}`;
          }),
        );

  const listen = (s: Server, port: number): Promise<number> =>
    new Promise((res, rej) => {
      s.once('error', rej);
      s.listen(port, host, () => res((s.address() as AddressInfo).port));
    });
  const port = await listen(activator, opts.port ?? 8003);
  const frontPort = frontDoor ? await listen(frontDoor, opts.frontDoorPort ?? 9090) : undefined;
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

  const watch: WatchHandle = kube.watch(SERVING, 'Service', {
    onList: (items) => items.forEach((o) => onService(o)),
    onEvent: (type, o) => {
      if (type === 'DELETED') {
        const k = `${o.metadata?.namespace}/${o.metadata?.name}`;
        const unit = units.get(k);
        units.delete(k);
        void unit?.stopProcess();
      } else onService(o);
    },
    onError: (err) => log(`serving: watch: ${(err as Error).message}`),
  });

  function onService(o: KubeObject): void {
    if (stopped) return;
    const k = `${o.metadata?.namespace}/${o.metadata?.name}`;
    let unit = units.get(k);
    if (unit) unit.update(o);
    else {
      unit = new ServiceUnit(o, { opts, kube, log, kubeconfigFor, idleWindowMs, ...(bundles ? { bundles } : {}) });
      units.set(k, unit);
    }
    void writeStatus(unit);
  }

  await watch.ready;

  const close = (s: Server): Promise<void> =>
    new Promise((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });

  return {
    url,
    port,
    frontDoorUrl: frontPort !== undefined ? `http://${host}:${frontPort}` : undefined,
    serviceUrl,
    process(ns, name) {
      return units.get(`${ns}/${name}`)?.info;
    },
    async stop() {
      stopped = true;
      watch.stop();
      // A process still starting is stopped once it is up.
      await Promise.all(
        [...units.values()].map((u) => (u.starting ?? Promise.resolve()).catch(() => undefined).then(() => u.stopProcess())),
      );
      await Promise.all([close(activator), ...(frontDoor ? [close(frontDoor)] : [])]);
    },
  };
}
