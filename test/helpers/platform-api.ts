// Test helpers for the embedded API server: start one on a free port, a small RedisCluster-like
// CRD fixture, kubectl run as a person would (own empty kubeconfig and discovery cache), polling.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../local/apiserver/index.js';
import { kubeConfigFor } from '../../local/apiserver/kubeconfig.js';
import { Kube } from '../../shared/kube/index.js';
import { parse } from 'yaml';

const CLUSTER_CRD_FILE = 'charts/redis-operator/crds/redisclusters.redis.redis.yaml';

export interface TestApi {
  server: ApiServer;
  url: string;
  kc: KubeConfig;
  close(): Promise<void>;
}

export async function startTestApi(opts: Omit<ApiServerOptions, 'port'> = {}): Promise<TestApi> {
  const server = await startApiServer({ ...opts, port: 0 });
  return { server, url: server.url, kc: kubeConfigFor(server.url), close: () => server.close() };
}

/** An API server serving the project's own RedisCluster CRD (the chart's), and a client of it. */
export async function startApiWithClusterCrd(): Promise<{ api: TestApi; kube: Kube }> {
  const api = await startTestApi();
  const kube = new Kube(api.kc);
  const crd = parse(readFileSync(CLUSTER_CRD_FILE, 'utf8')) as Record<string, unknown>;
  await kube.custom.createClusterCustomObject({
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    body: crd,
  });
  return { api, kube };
}

/** A RedisCluster-like CRD: bounds, a pattern, defaults, printer columns, status and scale. */
export function testCrd(group = 'redis.redis'): Record<string, any> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `redisclusters.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'redisclusters', singular: 'rediscluster', kind: 'RedisCluster', listKind: 'RedisClusterList', shortNames: ['rdc'] },
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: { specReplicasPath: '.spec.masters', statusReplicasPath: '.status.readyMasters', labelSelectorPath: '.status.selector' },
          },
          additionalPrinterColumns: [
            { name: 'Masters', type: 'integer', jsonPath: '.spec.masters' },
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
            { name: 'Status', type: 'string', jsonPath: '.status.phase' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['image'],
                  properties: {
                    image: { type: 'string', minLength: 1 },
                    masters: { type: 'integer', minimum: 3, maximum: 100, default: 3 },
                    replicas: { type: 'integer', minimum: 0, default: 1 },
                    maxMemory: { type: 'string', pattern: '^[0-9]+(mb|gb)$' },
                    resources: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                    limits: { type: 'object', additionalProperties: { 'x-kubernetes-int-or-string': true } },
                  },
                },
                status: {
                  type: 'object',
                  properties: {
                    phase: { type: 'string' },
                    readyMasters: { type: 'integer' },
                    selector: { type: 'string' },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** kubectl against `url` with nothing of the machine's configuration: an empty kubeconfig and a fresh cache. */
export class Kubectl {
  private readonly dir = mkdtempSync(join(tmpdir(), 'kubectl-'));
  private readonly kubeconfig = join(this.dir, 'config');

  constructor(private readonly url: string) {
    writeFileSync(this.kubeconfig, '');
  }

  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  private argv(args: string[]): string[] {
    return ['--server', this.url, '--cache-dir', join(this.dir, 'cache'), ...args];
  }

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, KUBECONFIG: this.kubeconfig };
  }

  /** A long-running kubectl (`get -w`); its output accumulates in `output()`. Kill it when done. */
  start(args: string[]): { child: ChildProcess; output(): string } {
    const child = spawn('kubectl', this.argv(args), { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return { child, output: () => out };
  }

  run(args: string[], timeoutMs = 30_000): Promise<KubectlResult> {
    return new Promise((resolve) => {
      execFile('kubectl', this.argv(args), { env: this.env(), timeout: timeoutMs }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs kubectl and fails with its stderr unless it succeeds. */
  async ok(args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The Status body of a client-node ApiException (its body is often a JSON string). */
export function statusOf(err: unknown): { code?: number; reason?: string; message?: string; details?: any } {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body);
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as { code?: number };
}
