// The whole embedded platform: startPlatform installs the operator chart with real helm and
// applies extra manifests, the Broker and Services become addressable, a function answers, and
// stop() leaves no process behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startPlatform, type Platform, REPO_ROOT } from '../../local/platform.js';
import type { KubeObject } from '../../local/apiserver/client.js';
import { alive, waitFor } from '../fixtures/knative/harness.js';

const fixtures = resolve(import.meta.dirname, '../fixtures/knative');
let platform: Platform | undefined;
const stateDir = mkdtempSync(join(tmpdir(), 'platform-test-'));

afterAll(async () => {
  await platform?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('startPlatform', () => {
  it('installs the chart with helm, applies the given manifests, serves them, and stops everything', async () => {
    platform = await startPlatform({
      apiPort: 0,
      brokerPort: 0,
      servingPort: 0,
      stateDir,
      nodes: 1,
      idleWindowMs: 60_000,
      functionRoots: [join(REPO_ROOT, 'functions'), join(fixtures, 'functions')],
      manifests: [join(fixtures, 'echo-service.yaml')],
    });
    const { kube, urls } = platform;
    const release = await platform.helm(['get', 'manifest', 'redis-operator', '--namespace', 'redis-operator']);
    expect(release.status, release.stderr).toBe(0);
    const project = parseAllDocuments(release.stdout)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => !!o);
    expect(project.filter((o) => o.apiVersion === 'serving.knative.dev/v1').length).toBe(6);
    for (const o of project) {
      const stored = await kube.get(o.apiVersion!, o.kind!, o.metadata!.name!, o.metadata?.namespace);
      expect(stored, `${o.kind} ${o.metadata?.name}`).toBeDefined();
    }
    const brokers = project.filter((o) => o.kind === 'Broker');
    for (const b of brokers) {
      const url = await waitFor(
        async () =>
          (await kube.get('eventing.knative.dev/v1', 'Broker', b.metadata!.name!, b.metadata!.namespace))?.status?.address?.url as
            string | undefined,
        `Broker ${b.metadata!.name} address`,
      );
      expect(url).toBe(platform.eventing.brokerUrl(b.metadata!.namespace!, b.metadata!.name!));
    }
    for (const s of project.filter((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1')) {
      const url = await waitFor(
        async () =>
          (await kube.get('serving.knative.dev/v1', 'Service', s.metadata!.name!, s.metadata!.namespace))?.status?.url as
            string | undefined,
        `Service ${s.metadata!.name} url`,
      );
      expect(url).toBe(`${urls.serving}/${s.metadata!.namespace}/${s.metadata!.name}`);
    }

    await waitFor(async () => (await kube.get('serving.knative.dev/v1', 'Service', 'echo', 'cache'))?.status?.url, 'Service echo url');
    const res = await fetch(`${urls.serving}/cache/echo/env`);
    const body = await res.text();
    expect(res.status, body).toBe(200);
    const env = JSON.parse(body) as { pid: number; K_SERVICE: string; KUBECONFIG: string };
    expect(env.K_SERVICE).toBe('echo');
    expect(alive(env.pid)).toBe(true);

    await platform.stop();
    platform = undefined;
    expect(alive(env.pid)).toBe(false);
    for (const url of [urls.api, urls.broker, urls.serving]) {
      await expect(fetch(`${url}/`)).rejects.toThrow();
    }
  });
});
