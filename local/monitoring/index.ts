// Monitoring on the platform: real Prometheus and real Alertmanager as host processes, configured
// from the PodMonitors, PrometheusRules and AlertmanagerConfigs the API server stores, as the
// Prometheus Operator configures them on a cluster. Their files are rewritten and reloaded
// (POST /-/reload) whenever one of those objects, or a Secret, changes.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KubeRest, type WatchHandle } from '../apiserver/client.js';
import { startProcess, stopProcess, type ContainerProcess } from '../kubelet/processes.js';
import type { PodDiscoveryConfig } from './prometheus-config.js';
import { startPodDiscovery, type PodDiscovery } from './pod-discovery.js';
import { MONITORING_KINDS, monitoringLayout, renderFiles, type MonitoringLayout } from './files.js';

export interface MonitoringOptions {
  apiUrl: string;
  /** The platform's state dir; monitoring keeps its files under `<stateDir>/monitoring`. */
  stateDir: string;
  /** The activator: Alertmanager's HTTP proxy to cluster-local Knative URLs. */
  activatorUrl?: string;
  /** Prometheus's global intervals; default 15s each. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** 0 or unset: a free port. */
  prometheusPort?: number;
  alertmanagerPort?: number;
  host?: string;
  log?: (msg: string) => void;
}

export interface Monitoring {
  prometheusUrl: string;
  alertmanagerUrl: string;
  /** Rewrites the files from the API server's objects now, reloading what changed. */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

/** The Debian packages' program names. */
export const PROMETHEUS_BIN = 'prometheus';
export const ALERTMANAGER_BIN = 'prometheus-alertmanager';

async function freePort(host: string, wanted: number | undefined): Promise<number> {
  if (wanted) return wanted;
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, proc: ContainerProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${url}: exited; see ${logFile}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url}: not ready after 30 s; see ${logFile}`);
}

/** Whether this Prometheus build has kubernetes_sd (promtool, of the same build, parses it). */
export function hasKubernetesSd(dir: string): boolean {
  const file = join(dir, 'kubernetes-sd-probe.yml');
  writeFileSync(file, stringify({ scrape_configs: [{ job_name: 'probe', kubernetes_sd_configs: [{ role: 'pod' }] }] }));
  return spawnSync('promtool', ['check', 'config', file], { stdio: 'ignore' }).status === 0;
}

interface Programs {
  prometheus: ContainerProcess;
  alertmanager: ContainerProcess;
}

/** Starts both programs on the rendered files and waits until both answer /-/ready. */
async function startPrograms(
  layout: MonitoringLayout,
  host: string,
  ports: { prometheus: number; alertmanager: number },
): Promise<Programs> {
  const url = (port: number): string => `http://${host}:${port}`;
  const logFile = (name: string): string => join(layout.root, `${name}.log`);
  const spawn = (file: string, args: string[], name: string): Promise<ContainerProcess> =>
    startProcess({ file, args, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: layout.root, logFile: logFile(name) });
  const alertmanager = await spawn(
    ALERTMANAGER_BIN,
    [
      `--config.file=${layout.amConfig}`,
      `--storage.path=${layout.amData}`,
      `--web.listen-address=${host}:${ports.alertmanager}`,
      // One Alertmanager: no gossip port to collide with another platform's.
      '--cluster.listen-address=',
      `--web.external-url=${url(ports.alertmanager)}`,
    ],
    'alertmanager',
  );
  const prometheus = await spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${layout.promConfig}`,
      `--storage.tsdb.path=${layout.promData}`,
      `--web.listen-address=${host}:${ports.prometheus}`,
      '--web.enable-lifecycle',
      `--web.external-url=${url(ports.prometheus)}`,
    ],
    'prometheus',
  );
  const programs = { prometheus, alertmanager };
  try {
    await Promise.all([
      waitReady(url(ports.alertmanager), alertmanager, logFile('alertmanager')),
      waitReady(url(ports.prometheus), prometheus, logFile('prometheus')),
    ]);
  } catch (err) {
    await stopPrograms(programs);
    throw err;
  }
  return programs;
}

async function stopPrograms(p: Programs): Promise<void> {
  await Promise.all([stopProcess(p.prometheus, 5000), stopProcess(p.alertmanager, 5000)]);
}

export async function startMonitoring(opts: MonitoringOptions): Promise<Monitoring> {
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const kube = new KubeRest(opts.apiUrl);
  const layout = monitoringLayout(opts.stateDir);
  const ports = { prometheus: await freePort(host, opts.prometheusPort), alertmanager: await freePort(host, opts.alertmanagerPort) };
  const prometheusUrl = `http://${host}:${ports.prometheus}`;
  const alertmanagerUrl = `http://${host}:${ports.alertmanager}`;
  let podDiscovery: PodDiscovery | undefined;
  let discovery: PodDiscoveryConfig = { apiUrl: opts.apiUrl };
  if (!hasKubernetesSd(layout.root)) {
    podDiscovery = await startPodDiscovery({ apiUrl: opts.apiUrl, host, log });
    discovery = { podsUrl: `${podDiscovery.url}/pods`, refreshInterval: opts.scrapeInterval ?? '15s' };
  }
  const settings = {
    discovery,
    scrapeInterval: opts.scrapeInterval ?? '15s',
    evaluationInterval: opts.evaluationInterval ?? '15s',
    alertmanager: `${host}:${ports.alertmanager}`,
    activatorUrl: opts.activatorUrl,
    log,
  };
  let programs: Programs;
  try {
    await renderFiles(kube, layout, settings);
    programs = await startPrograms(layout, host, ports);
  } catch (err) {
    await podDiscovery?.stop();
    throw err;
  }
  log(`monitoring: Prometheus ${prometheusUrl}, Alertmanager ${alertmanagerUrl}`);

  const reload = async (url: string, what: string): Promise<void> => {
    const res = await fetch(`${url}/-/reload`, { method: 'POST' });
    if (!res.ok) log(`monitoring: ${what} reload failed: ${res.status} ${await res.text()}`);
  };
  let running: Promise<void> = Promise.resolve();
  const sync = (): Promise<void> => {
    running = running.then(async () => {
      const changed = await renderFiles(kube, layout, settings);
      if (changed.prometheus) await reload(prometheusUrl, 'Prometheus');
      if (changed.alertmanager) await reload(alertmanagerUrl, 'Alertmanager');
    });
    running = running.catch((err) => log(`monitoring: ${(err as Error).message}`));
    return running;
  };
  let pending: NodeJS.Timeout | undefined;
  const soon = (): void => {
    clearTimeout(pending);
    pending = setTimeout(() => void sync(), 100);
  };
  const watches: WatchHandle[] = MONITORING_KINDS.map(([gv, kind]) =>
    kube.watch(gv, kind, { onEvent: soon, onError: (err) => log(`monitoring: watch ${kind}: ${(err as Error).message}`) }),
  );
  await Promise.all(watches.map((w) => w.ready));
  await sync();

  return {
    prometheusUrl,
    alertmanagerUrl,
    sync,
    async stop() {
      clearTimeout(pending);
      for (const w of watches) w.stop();
      await running;
      await stopPrograms(programs);
      await podDiscovery?.stop();
    },
  };
}
