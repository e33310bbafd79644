// The whole embedded platform in one call: API server, scheduler, kubelet, service proxy, eventing,
// serving, KEDA and (when asked) Prometheus and Alertmanager, with the operator installed by helm
// from its chart and any given manifests applied.
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startApiServer, type ApiServer } from './apiserver/index.js';
import type { AuthorizationMode } from './apiserver/access.js';
import { startEventing, type Eventing } from './eventing/index.js';
import { KubeRest, type KubeObject } from './apiserver/client.js';
import { startKubelet } from './kubelet/index.js';
import { clusterDns, startServiceProxy, type ClusterDns } from './network/index.js';
import { defaultNodes, startScheduler, type Scheduler } from './scheduler/index.js';
import { startServing, type Serving } from './serving/index.js';
import { FunctionImages } from './serving/images.js';
import { helmFor, installOperator, type OperatorInstall } from './operator.js';
import { startKeda } from './keda/index.js';
import { startMonitoring, type MonitoringOptions } from './monitoring/index.js';
import type { HelmResult } from '../scripts/helm.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

export interface PlatformOptions {
  host?: string;
  /** Ports: API 8001, Broker ingress 8002, activator 8003 by default; 0 picks free ones. */
  apiPort?: number;
  brokerPort?: number;
  servingPort?: number;
  /** Logs, pod data, kubeconfigs and the API server's state file; default `<repo>/.local-state`. */
  stateDir?: string;
  /** Number of virtual nodes (default 3). */
  nodes?: number;
  pingIntervalMs?: number;
  idleWindowMs?: number;
  /** Manifest files (multi-document YAML) applied once the operator is installed. */
  manifests?: string[];
  /** The operator chart, installed with helm (default); false: a platform without the operator. */
  operator?: false | OperatorInstall;
  /**
   * Real Prometheus and Alertmanager configured from the chart's monitoring objects (npm start turns
   * it on); the chart's KEDA ScaledObjects then query this Prometheus.
   */
  monitoring?: false | Pick<MonitoringOptions, 'scrapeInterval' | 'evaluationInterval' | 'prometheusPort' | 'alertmanagerPort'>;
  /** Function folders looked up by image name; default `functions/` of the repository. */
  functionRoots?: string[];
  /** Keep the API server's objects across restarts (a state file under stateDir). */
  persist?: boolean;
  /**
   * RBAC (default): requests with a ServiceAccount token (every function Pod's) get what their
   * roles grant and a 403 otherwise; AlwaysAllow: any request goes through. Requests without
   * credentials (kubectl, helm, the platform's own components) are an administrator's either way.
   */
  authorizationMode?: AuthorizationMode;
  log?: (msg: string) => void;
}

export interface ApiServerControl {
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface PlatformUrls {
  api: string;
  broker: string;
  serving: string;
  prometheus?: string;
  alertmanager?: string;
}

export interface Platform {
  urls: PlatformUrls;
  stateDir: string;
  kube: KubeRest;
  /** stop()/start() model an API server restart: same port, objects kept in the state file (persist). */
  apiServer: ApiServerControl;
  /** pause()/resume() model a scheduler outage. */
  scheduler: Pick<Scheduler, 'pause' | 'resume'>;
  eventing: Eventing;
  serving: Serving;
  /** Service names as a Pod in the cluster resolves them (cluster IPs the service proxy serves). */
  dns: ClusterDns;
  /** Every object applied at start, in order. */
  applied: KubeObject[];
  /** Runs real helm against the platform's API server. */
  helm(args: string[]): Promise<HelmResult>;
  /** Applies more manifests (files), like `kubectl apply -f`. */
  apply(files: string[]): Promise<KubeObject[]>;
  stop(): Promise<void>;
}

/** The objects of multi-document YAML files; throws naming the file on a syntax error. */
export function readManifests(files: string[]): KubeObject[] {
  const out: KubeObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as KubeObject | null;
      if (!obj) continue;
      if (!obj.apiVersion || !obj.kind) throw new Error(`${file}: a document has no apiVersion or kind`);
      if (obj.kind === 'List' && Array.isArray(obj.items)) out.push(...(obj.items as KubeObject[]));
      else out.push(obj);
    }
  }
  return out;
}

/** Namespaces and CRDs before everything else, as `kubectl apply` users order them. */
function applyOrder(objs: KubeObject[]): KubeObject[] {
  const rank = (o: KubeObject): number => (o.kind === 'Namespace' ? 0 : o.kind === 'CustomResourceDefinition' ? 1 : 2);
  return [...objs].sort((a, b) => rank(a) - rank(b));
}

async function applyAll(kube: KubeRest, objs: KubeObject[], log: (m: string) => void): Promise<KubeObject[]> {
  const done: KubeObject[] = [];
  for (const obj of applyOrder(objs)) {
    const what = `${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`;
    // A CRD's resource is served a moment after the CRD is stored: retry briefly on 404.
    for (let attempt = 0; ; attempt++) {
      try {
        done.push(await kube.apply(obj));
        break;
      } catch (err) {
        if (attempt < 20 && (err as { code?: number }).code === 404) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        throw new Error(`applying ${what}: ${(err as Error).message}`, { cause: err });
      }
    }
    log(`applied ${what}`);
  }
  return done;
}

export async function startPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const stateDir = resolve(opts.stateDir ?? join(REPO_ROOT, '.local-state'));
  mkdirSync(stateDir, { recursive: true });
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    // Reverse order: the functions and event sources go before the API they talk to.
    for (const { name, stop } of stops.reverse()) {
      const t0 = Date.now();
      try {
        await stop();
        log(`stopped ${name} in ${Date.now() - t0} ms`);
      } catch (err) {
        log(`stopping ${name}: ${(err as Error).message}`);
      }
    }
    stops.length = 0;
  };
  try {
    const apiOptions = {
      host,
      port: opts.apiPort ?? 8001,
      stateFile: opts.persist ? join(stateDir, 'apiserver.json') : undefined,
      // Kept with the objects, so tokens issued before a restart still authenticate after it.
      serviceAccountSigningKeyFile: opts.persist ? join(stateDir, 'sa.key') : undefined,
      authorizationMode: opts.authorizationMode ?? 'RBAC',
      log: (m: string) => log(`api: ${m}`),
    };
    let api: ApiServer | undefined = await startApiServer(apiOptions);
    const apiPort = api.port;
    stops.push({ name: 'api', stop: async () => api?.close() });
    const apiServer: ApiServerControl = {
      async stop() {
        if (!opts.persist)
          throw new Error('the API server can only be restarted with persist: true; without its state file every object would be lost');
        await api?.close();
        api = undefined;
      },
      async start() {
        api ??= await startApiServer({ ...apiOptions, port: apiPort });
      },
    };
    const kube = new KubeRest(api.url);
    const nodes = defaultNodes(opts.nodes ?? 3);
    const scheduler = await startScheduler({ apiUrl: api.url, nodes });
    stops.push({ name: 'scheduler', stop: () => scheduler.stop() });
    const images = new FunctionImages({ functionRoots: opts.functionRoots, log });
    const kubelet = await startKubelet({
      apiUrl: api.url,
      nodes,
      images,
      dataDir: join(stateDir, 'pods'),
      log: (m) => log(`kubelet: ${m}`),
    });
    stops.push({ name: 'kubelet', stop: () => kubelet.stop() });
    const proxy = await startServiceProxy({ apiUrl: api.url, nodes, host, log: (m) => log(`service proxy: ${m}`) });
    stops.push({ name: 'service proxy', stop: () => proxy.stop() });
    const eventing = await startEventing({
      apiUrl: api.url,
      host,
      port: opts.brokerPort ?? 8002,
      pingIntervalMs: opts.pingIntervalMs,
      log,
    });
    stops.push({ name: 'eventing', stop: () => eventing.stop() });
    const serving = await startServing({
      apiUrl: api.url,
      host,
      port: opts.servingPort ?? 8003,
      images,
      idleWindowMs: opts.idleWindowMs,
      envFor: (svc) =>
        eventing.sinkBindingEnv({
          apiVersion: svc.apiVersion ?? 'serving.knative.dev/v1',
          kind: svc.kind ?? 'Service',
          name: svc.metadata!.name!,
          namespace: svc.metadata!.namespace!,
          labels: svc.metadata?.labels,
        }),
      log,
    });
    stops.push({ name: 'serving', stop: () => serving.stop() });
    const dns = clusterDns(kube);
    const keda = await startKeda({ apiUrl: api.url, log: (m) => log(`keda: ${m}`), resolveUrl: (url, ns) => dns.resolveUrl(url, ns) });
    stops.push({ name: 'keda', stop: () => keda.stop() });
    const monitoring = opts.monitoring
      ? await startMonitoring({ ...opts.monitoring, apiUrl: api.url, stateDir, activatorUrl: serving.url, host, log })
      : undefined;
    if (monitoring) stops.push({ name: 'monitoring', stop: () => monitoring.stop() });

    const helm = helmFor(api.url, stateDir);
    if (opts.operator !== false) {
      const t0 = Date.now();
      // The chart's "bring your own Prometheus" value: KEDA queries the platform's.
      const prometheus = monitoring ? { 'prometheus.server.address': monitoring.prometheusUrl } : {};
      await installOperator(helm, { ...opts.operator, values: { ...prometheus, ...opts.operator?.values } });
      log(`installed the operator chart with helm in ${Date.now() - t0} ms`);
    }
    const applied = await applyAll(kube, readManifests(opts.manifests ?? []), log);
    return {
      urls: {
        api: api.url,
        broker: eventing.url,
        serving: serving.url,
        ...(monitoring ? { prometheus: monitoring.prometheusUrl, alertmanager: monitoring.alertmanagerUrl } : {}),
      },
      stateDir,
      kube,
      scheduler: { pause: () => scheduler.pause(), resume: () => scheduler.resume() },
      apiServer,
      eventing,
      serving,
      dns,
      applied,
      helm,
      apply: (files) => applyAll(kube, readManifests(files), log),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
