// Cold start and memory of every function, started as the platform starts it (`node --import tsx
// functions/<name>/index.ts`, PORT and a KUBECONFIG to a local API server) and as its image runs
// it (the esbuild bundle under plain node). Only sane bounds are asserted: an answer on the
// readiness path within 30 s and a resident set below the Service's memory limit; the figures
// are printed for docs/benchmarks.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseQuantity } from '../../shared/api/quantity.js';
import { startApiServer, type ApiServer } from '../../local/apiserver/index.js';
import { kubeConfigYaml } from '../../local/apiserver/kubeconfig.js';
import { serviceSettings, type EnvVar } from '../../local/serving/config.js';
import { REPO_ROOT, buildFunction } from '../../scripts/build.js';
import { freePort } from '../helpers/ports.js';

const FUNCTIONS = ['reconcile', 'reshard', 'scale', 'discovery', 'alert-bridge', 'dead-letter'] as const;
const ANSWER_WITHIN_MS = 30_000;

interface Service {
  name: string;
  env: Record<string, string>;
  readinessPath: string;
  memoryLimitBytes: number;
}

/** Each Service of knative/services.yaml: its literal env, a stand-in for each Secret value, its memory limit. */
function readServices(): Map<string, Service> {
  const out = new Map<string, Service>();
  for (const doc of parseAllDocuments(readFileSync(path.join(REPO_ROOT, 'knative/services.yaml'), 'utf8'))) {
    const svc = doc.toJS();
    if (svc?.kind !== 'Service') continue;
    const settings = serviceSettings(svc);
    const limit = svc.spec.template.spec.containers[0].resources?.limits?.memory;
    if (limit === undefined) throw new Error(`knative/services.yaml: Service ${svc.metadata.name} has no memory limit`);
    const env: Record<string, string> = {};
    for (const v of settings.env as EnvVar[]) {
      if (v.value !== undefined) env[v.name] = v.value;
      else if (v.valueFrom?.secretKeyRef) env[v.name] = `footprint-${v.valueFrom.secretKeyRef.key}`;
    }
    out.set(settings.functionName, {
      name: svc.metadata.name,
      env,
      readinessPath: settings.readinessPath,
      memoryLimitBytes: parseQuantity(limit),
    });
  }
  return out;
}

function probe(port: number, urlPath: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`/proc/${pid}/status has no VmRSS`);
  return Number(line.split(/\s+/)[1]) * 1024;
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

interface Footprint {
  startMs: number;
  rssBytes: number;
}

const running = new Set<ChildProcess>();

/**
 * Spawns `args`, waits for the first 200 on the readiness path, idles a second, reads VmRSS, stops
 * it. A port found free can be taken before the function listens (another test's connection gets
 * it as its ephemeral port): that start is tried again on another port.
 */
async function measure(args: string[], svc: Service, kubeconfig: string, cwd: string): Promise<Footprint> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await measureOnce(args, svc, kubeconfig, cwd);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function measureOnce(args: string[], svc: Service, kubeconfig: string, cwd: string): Promise<Footprint> {
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ['K_SINK', 'K_CE_OVERRIDES', 'NODE_OPTIONS', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID']) delete env[k];
  Object.assign(env, svc.env, { PORT: String(port), KUBECONFIG: kubeconfig, K_SERVICE: svc.name, LOG_LEVEL: 'warn' });
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${svc.name} exited before it answered: ${stderr}`);
      if (performance.now() - t0 > ANSWER_WITHIN_MS)
        throw new Error(`${svc.name}: no 200 on ${svc.readinessPath} within ${ANSWER_WITHIN_MS} ms: ${stderr}`);
      if ((await probe(port, svc.readinessPath)) === 200) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const startMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    return { startMs, rssBytes: rssBytes(child.pid!) };
  } finally {
    await stop(child);
    running.delete(child);
  }
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

describe('functions footprint', () => {
  let api: ApiServer;
  let dir: string;
  let kubeconfig: string;
  const services = readServices();

  beforeAll(async () => {
    api = await startApiServer();
    dir = mkdtempSync(path.join(tmpdir(), 'functions-footprint-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeConfigYaml(api.url, 'redis-operator'));
  });

  afterAll(async () => {
    await Promise.all([...running].map(stop));
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('each function answers within 30 s and stays below its memory limit, from source and from its bundle', async () => {
    const rows: string[] = [];
    for (const name of FUNCTIONS) {
      const svc = services.get(name);
      expect(svc, `knative/services.yaml has a Service for ${name}`).toBeDefined();
      const source = await measure(['--import', 'tsx', path.join('functions', name, 'index.ts')], svc!, kubeconfig, REPO_ROOT);
      const built = await buildFunction(name, path.join(dir, 'dist'));
      expect(built.bytes).toBeGreaterThan(0);
      // The image runs the bundle alone: no node_modules beside it.
      const bundle = await measure([built.file], svc!, kubeconfig, path.dirname(built.file));
      for (const f of [source, bundle]) {
        expect(f.startMs).toBeLessThan(ANSWER_WITHIN_MS);
        expect(f.rssBytes).toBeGreaterThan(0);
        expect(f.rssBytes).toBeLessThan(svc!.memoryLimitBytes);
      }
      rows.push(
        `| ${name} | ${source.startMs.toFixed(0)} | ${mib(source.rssBytes)} | ${(built.bytes / 1024).toFixed(0)} | ${bundle.startMs.toFixed(0)} | ${mib(bundle.rssBytes)} | ${mib(svc!.memoryLimitBytes)} |`,
      );
    }
    process.stdout.write(
      [
        '',
        '| function | tsx start to /healthz 200 (ms) | tsx RSS after 1 s idle (MiB) | bundle (KiB) | bundle start (ms) | bundle RSS (MiB) | memory limit (MiB) |',
        '|---|---:|---:|---:|---:|---:|---:|',
        ...rows,
        '',
      ].join('\n'),
    );
  }, 420_000);
});
