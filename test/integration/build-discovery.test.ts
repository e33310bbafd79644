// `npm run build` for the discovery function, then the bundle started as the image would start it
// (`node index.mjs`), answering health checks and looking clusters up in a real API server; and the
// image contexts of every function against the images real helm renders from the chart.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigYaml } from '../../local/apiserver/kubeconfig.js';
import { helmTemplate } from '../../scripts/helm.js';
import { Kube } from '../../shared/kube/client.js';
import { startTestApi, type TestApi } from '../helpers/platform-api.js';
import { freePort } from '../helpers/ports.js';

const TSX = path.resolve('node_modules/.bin/tsx');
let out: string;
let api: TestApi;
let child: ChildProcess | undefined;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(TSX, ['scripts/build.ts', ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({
        code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0,
        stdout,
        stderr,
      });
    });
  });
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'build-'));
  api = await startTestApi();
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  await api?.close();
  rmSync(out, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('bundles discovery into one ESM file with a Dockerfile and prints its size', async () => {
    const r = await run(['--out', out, 'discovery']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^discovery\s+\S+discovery\/index\.mjs\s+[\d.]+ KiB/m);
    const bundle = readFileSync(path.join(out, 'discovery', 'index.mjs'), 'utf8');
    expect(bundle.startsWith("import { createRequire as __bundleCreateRequire } from 'node:module';")).toBe(true);
    // Everything is inside: no import of a project file or a package other than Node's own.
    const imports = [...bundle.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((m) => m[1]!);
    expect(imports.filter((m) => !m.startsWith('node:') && !/^[a-z_]+$/.test(m))).toEqual([]);
    const dockerfile = readFileSync(path.join(out, 'discovery', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-slim$/m);
    expect(dockerfile).toMatch(/^COPY index\.mjs /m);
    expect(dockerfile).toMatch(/^CMD \["node", "index\.mjs"\]$/m);
  });

  it('the bundle serves /healthz and looks clusters up through the API server', async () => {
    const kube = new Kube(api.kc);
    const crd = parse(readFileSync('charts/redis-operator/crds/redisclusters.redis.redis.yaml', 'utf8')) as Record<string, unknown>;
    await kube.custom.createClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      body: crd,
    });
    await kube.custom.createNamespacedCustomObject({
      group: 'redis.redis',
      version: 'v1beta1',
      plural: 'redisclusters',
      namespace: 'cache',
      body: { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: { name: 'bundled' }, spec: { maxMemory: '64mb' } },
    });
    const deadPort = await freePort();
    await kube.patchClusterStatus(
      { namespace: 'cache', name: 'bundled' },
      { nodes: [{ id: 'a'.repeat(40), pod: 'bundled-0', ip: '127.0.0.1', port: deadPort, role: 'master' }] },
    );
    const kubeconfig = path.join(out, 'kubeconfig');
    writeFileSync(kubeconfig, kubeConfigYaml(api.url));

    const port = await freePort();
    child = spawn(process.execPath, ['index.mjs'], {
      cwd: path.join(out, 'discovery'),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: String(port), KUBECONFIG: kubeconfig, LOG_LEVEL: 'warn', HOME: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; output: ${logs}`);
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    const missing = await fetch(`${url}/cluster/nodes`);
    expect(missing.status).toBe(400);
    const found = await fetch(`${url}/cluster/nodes?clusterName=bundled`);
    expect(found.status).toBe(200);
    expect(found.headers.get('x-discovery-source')).toBe('status');
    expect(await found.json()).toEqual([{ ip: '127.0.0.1', port: deadPort }]);
    expect((await fetch(`${url}/cluster/nodes?clusterName=absent`)).status).toBe(404);

    // SIGTERM drains and exits 0, as Knative stops a revision.
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('--minify makes a smaller bundle', async () => {
    const r = await run(['--out', path.join(out, 'min'), '--minify', 'discovery']);
    expect(r.code).toBe(0);
    const plain = readFileSync(path.join(out, 'discovery', 'index.mjs')).length;
    const small = readFileSync(path.join(out, 'min', 'discovery', 'index.mjs')).length;
    expect(small).toBeLessThan(plain * 0.7);
  });

  it('fails with a message naming an unknown function', async () => {
    const r = await run(['--out', out, 'no-such-function']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no function no-such-function; functions with an index.ts: .*discovery/);
  });
});

/** The image of each Knative Service helm renders from the chart, by Service name. */
function renderedImages(setJson: Record<string, unknown>): Map<string, string> {
  const images = new Map<string, string>();
  for (const doc of parseAllDocuments(helmTemplate({ setJson }))) {
    const obj = doc.toJS() as { apiVersion?: string; metadata: { name: string }; spec: any } | null;
    if (obj?.apiVersion === 'serving.knative.dev/v1') images.set(obj.metadata.name, obj.spec.template.spec.containers[0].image);
  }
  return images;
}

/** Each function's printed image and docker build command (image and context). */
function printedContexts(stdout: string): { image: string; buildTag: string; context: string }[] {
  const images = [...stdout.matchAll(/^ {2}image {8}(\S+)$/gm)].map((m) => m[1]!);
  const builds = [...stdout.matchAll(/^ {2}build {8}docker build -t (\S+) (\S+)$/gm)];
  expect(builds).toHaveLength(images.length);
  return images.map((image, i) => ({ image, buildTag: builds[i]![1]!, context: builds[i]![2]! }));
}

describe('npm run build: an image context for every image the chart renders', () => {
  it.each([
    { label: "the chart's default values", buildArgs: [], values: {} },
    {
      label: 'a custom image.registry and image.tag',
      buildArgs: ['--registry', 'registry.example.com:5000/team/redis', '--tag', '2.0.0-rc.1'],
      values: { 'image.registry': 'registry.example.com:5000/team/redis', 'image.tag': '2.0.0-rc.1' },
    },
  ])(
    '$label',
    async ({ buildArgs, values }) => {
      const dir = mkdtempSync(path.join(out, 'contexts-'));
      const r = await run(['--out', dir, ...buildArgs]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const rendered = renderedImages(values);
      expect(rendered.size).toBe(6);
      const contexts = printedContexts(r.stdout);
      // Exactly the rendered images, each once.
      expect(contexts.map((c) => c.image).sort()).toEqual([...rendered.values()].sort());
      for (const [service, image] of rendered) {
        const context = contexts.find((c) => c.image === image)!;
        expect(context.buildTag).toBe(image);
        // The context is the function's folder of the build: its bundle and the Dockerfile that runs it.
        expect(path.resolve(context.context)).toBe(path.join(dir, service));
        expect(readFileSync(path.join(context.context, 'Dockerfile'), 'utf8')).toMatch(/^COPY index\.mjs /m);
        expect(existsSync(path.join(context.context, 'index.mjs'))).toBe(true);
      }
      // The helm values it prints render the same images again.
      const set = /--set image\.registry=(\S+) --set image\.tag=(\S+)$/m.exec(r.stdout);
      expect(set, r.stdout).not.toBeNull();
      expect(renderedImages({ 'image.registry': set![1], 'image.tag': set![2] })).toEqual(rendered);
    },
    180_000,
  );

  it('refuses a tag or registry that cannot name an image', async () => {
    const tag = await run(['--out', out, '--tag', 'v1 final', 'discovery']);
    expect(tag.code).toBe(2);
    expect(tag.stderr).toContain('tag "v1 final" is not an image tag');
    const registry = await run(['--out', out, '--registry', 'ghcr.io/Team/', 'discovery']);
    expect(registry.code).toBe(2);
    expect(registry.stderr).toContain('registry "ghcr.io/Team/" is not an image repository prefix');
  });
});
