// KEDA on the platform against a real Prometheus: it scrapes a gauge this test serves, the
// controller queries it every pollingInterval and moves a RedisCluster's spec.masters through the
// /scale subresource, within the ScaledObject's bounds, windows and policies.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { startKeda, type Keda } from '../../local/keda/index.js';
import { queryPrometheus } from '../../local/keda/prometheus.js';
import type { PrometheusTrigger } from '../../local/keda/scaledobject.js';
import { REPO_ROOT } from '../../local/platform.js';
import { Kubectl, startTestApi, waitFor, type TestApi } from '../helpers/platform-api.js';
import { freePort } from '../helpers/ports.js';

const RC = 'redis.redis/v1beta1';
const SO = 'keda.sh/v1alpha1';
const NS = 'default';

let api: TestApi;
let kube: KubeRest;
let keda: Keda;
let prometheus: ChildProcess;
let promUrl: string;
let metrics: Server;
let dir: string;
const registry = new Registry();
const load = new Gauge({ name: 'keda_test_load', help: 'load per cluster', labelNames: ['cluster'], registers: [registry] });

async function startPrometheus(targetPort: number): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'keda-prom-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global: { scrape_interval: 500ms, evaluation_interval: 1s }\n` +
      `scrape_configs:\n  - job_name: load\n    static_configs: [{ targets: ['127.0.0.1:${targetPort}'] }]\n`,
  );
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  await waitFor('Prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 20_000, 200);
}

/** Waits until Prometheus answers `query` with `value`, so a change of the gauge is visible. */
async function seen(cluster: string, value: number): Promise<void> {
  const q = encodeURIComponent(`sum(keda_test_load{cluster="${cluster}"})`);
  await waitFor(`Prometheus to see ${cluster} at ${value}`, async () => {
    const body = (await (await fetch(`${promUrl}/api/v1/query?query=${q}`)).json()) as any;
    return Number(body.data.result[0]?.value[1]) === value || undefined;
  });
}

function cluster(name: string, autoscaling = false): KubeObject {
  return {
    apiVersion: RC,
    kind: 'RedisCluster',
    metadata: { name, namespace: NS },
    spec: { masters: 3, replicas: 1, maxMemory: '64mb', autoscaling: { enabled: autoscaling } },
  };
}

function scaledObject(name: string, target: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: SO,
    kind: 'ScaledObject',
    metadata: { name, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: RC, kind: 'RedisCluster', name: target },
      pollingInterval: 1,
      minReplicaCount: 3,
      maxReplicaCount: 6,
      triggers: [
        {
          type: 'prometheus',
          metricType: 'AverageValue',
          metadata: {
            serverAddress: promUrl,
            query: `sum(keda_test_load{cluster="${target}"})`,
            threshold: '10',
            activationThreshold: '5',
          },
        },
      ],
      ...extra,
    },
  };
}

const masters = async (name: string): Promise<number> => (await kube.get(RC, 'RedisCluster', name, NS))?.spec?.masters;
const statusOf = async (name: string): Promise<any> => (await kube.get(SO, 'ScaledObject', name, NS))?.status ?? {};
const condition = (status: any, type: string): any => (status.conditions ?? []).find((c: any) => c.type === type);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  metrics = createServer((_req, res) => {
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  await startPrometheus((metrics.address() as AddressInfo).port);
  api = await startTestApi();
  kube = new KubeRest(api.url);
  await kube.apply(parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8')));
  await waitFor('the CRD to be served', async () => (await kube.list(RC, 'RedisCluster', NS).catch(() => undefined)) !== undefined);
  keda = await startKeda({ apiUrl: api.url });
  await keda.ready;
}, 60_000);

afterAll(async () => {
  await keda?.stop();
  prometheus?.kill('SIGKILL');
  await api?.close();
  metrics?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two writers of spec.masters', () => {
  it('refuses a ScaledObject on a cluster with alert autoscaling, and acts once that is off', async () => {
    load.set({ cluster: 'alerts' }, 100);
    await kube.create(cluster('alerts', true));
    await kube.create(scaledObject('alerts-masters', 'alerts'));
    const refused = await waitFor('the refusal', async () => condition(await statusOf('alerts-masters'), 'Ready'));
    expect(refused).toMatchObject({ status: 'False', reason: 'ScaledObjectCheckFailed' });
    expect(refused.message).toContain("RedisCluster 'alerts' has spec.autoscaling.enabled: true");
    expect(refused.message).toContain("ScaledObject 'alerts-masters' would be a second writer");
    await seen('alerts', 100);
    await sleep(2000);
    expect(await masters('alerts')).toBe(3);

    await kube.patch(RC, 'RedisCluster', 'alerts', NS, { spec: { autoscaling: { enabled: false } } });
    await waitFor('the ScaledObject to act', async () => ((await masters('alerts')) > 3 ? true : undefined), 10_000);
    // The scale write and the Ready condition come from separate loops, as in KEDA: either may land first.
    const ready = await waitFor('the ScaledObject to be Ready', async () => {
      const c = condition(await statusOf('alerts-masters'), 'Ready');
      return c?.status === 'True' ? c : undefined;
    });
    expect(ready.reason).toBe('ScaledObjectReady');
  });

  it('refuses a second ScaledObject on the same target, naming the first', async () => {
    load.set({ cluster: 'shared' }, 0);
    await kube.create(cluster('shared'));
    await kube.create(scaledObject('first', 'shared'));
    await waitFor('the first to be Ready', async () => condition(await statusOf('first'), 'Ready')?.status === 'True' || undefined);
    await kube.create(scaledObject('second', 'shared'));
    const refused = await waitFor('the refusal', async () => condition(await statusOf('second'), 'Ready'));
    expect(refused).toMatchObject({ status: 'False', reason: 'ScaledObjectCheckFailed' });
    expect(refused.message).toBe("the workload 'shared' of type 'redis.redis/RedisCluster' is already managed by the ScaledObject 'first'");
    expect(condition(await statusOf('first'), 'Ready')?.status).toBe('True');

    await kube.delete(SO, 'ScaledObject', 'first', NS);
    await waitFor('the second to take over', async () => condition(await statusOf('second'), 'Ready')?.status === 'True' || undefined);
  });
});

describe('a count the target refuses', () => {
  it("reports the API server's refusal as the HPA's FailedUpdateScale and keeps the count", async () => {
    // basePort 55526 leaves ports for 5 masters with one replica each: the CRD's rule refuses 7.
    load.set({ cluster: 'ports' }, 200);
    const rc = cluster('ports');
    rc.spec.basePort = 55526;
    await kube.create(rc);
    await seen('ports', 200);
    await kube.create(scaledObject('ports-masters', 'ports', { maxReplicaCount: 20 }));
    const failed = await waitFor('the refused write', async () => {
      const ready = condition(await statusOf('ports-masters'), 'Ready');
      return ready?.reason === 'FailedUpdateScale' ? ready : undefined;
    });
    expect(failed.status).toBe('False');
    expect(failed.message).toContain('unable to update the target scale');
    expect(failed.message).toContain('422');
    expect(await masters('ports')).toBe(3);
  });
});

describe("KEDA's prometheus scaler against Prometheus's answers", () => {
  const trigger = (query: string, ignoreNullValues = true): PrometheusTrigger => ({
    metricName: 's0-prometheus',
    metricType: 'AverageValue',
    serverAddress: promUrl,
    query,
    threshold: 1,
    activationThreshold: 0,
    ignoreNullValues,
    customHeaders: {},
  });

  it('takes the single sample; several elements are an error; an empty result is 0 unless ignoreNullValues is false', async () => {
    load.set({ cluster: 'one' }, 7);
    load.set({ cluster: 'two' }, 5);
    await seen('two', 5);
    expect(await queryPrometheus(trigger('sum(keda_test_load{cluster=~"one|two"})'), promUrl)).toBe(12);
    expect(await queryPrometheus(trigger('scalar(keda_test_load{cluster="one"})'), promUrl)).toBe(7);
    await expect(queryPrometheus(trigger('keda_test_load{cluster=~"one|two"}'), promUrl)).rejects.toThrow('returned multiple elements');
    expect(await queryPrometheus(trigger('keda_test_load{cluster="none"}'), promUrl)).toBe(0);
    await expect(queryPrometheus(trigger('keda_test_load{cluster="none"}', false), promUrl)).rejects.toThrow('the result is empty');
    await expect(queryPrometheus(trigger('sum(('), promUrl)).rejects.toThrow('status: 400');
  });
});

describe('the autoscaling loop', () => {
  it('grows within the bounds by the policy, shrinks after the window, and holds while Prometheus is down', async () => {
    const history: { at: number; masters: number }[] = [];
    const watch = kube.watch(RC, 'RedisCluster', {
      namespace: NS,
      onEvent: (_t, o) => {
        if (o.metadata?.name !== 'loop') return;
        if (history.at(-1)?.masters !== o.spec.masters) history.push({ at: Date.now(), masters: o.spec.masters });
      },
    });
    await watch.ready;
    load.set({ cluster: 'loop' }, 2);
    await kube.create(cluster('loop'));
    await seen('loop', 2);
    const behavior = {
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 2 }] },
      scaleDown: { stabilizationWindowSeconds: 5, policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] },
    };
    await kube.create(scaledObject('loop-masters', 'loop', { advanced: { horizontalPodAutoscalerConfig: { behavior } } }));

    // Below activation: inactive, held at minReplicaCount.
    const idle = await waitFor('the first cycle', async () =>
      (await statusOf('loop-masters')).health ? await statusOf('loop-masters') : undefined,
    );
    expect(condition(idle, 'Ready')).toMatchObject({ status: 'True', reason: 'ScaledObjectReady' });
    expect(condition(idle, 'Active')).toMatchObject({ status: 'False', reason: 'ScalerNotActive' });
    expect(idle).toMatchObject({
      originalReplicaCount: 3,
      scaleTargetKind: 'redis.redis/v1beta1.RedisCluster',
      scaleTargetGVKR: { group: 'redis.redis', version: 'v1beta1', kind: 'RedisCluster', resource: 'redisclusters' },
      health: { 's0-prometheus': { numberOfFailures: 0, status: 'Happy' } },
    });
    expect(await masters('loop')).toBe(3);

    // Up: ceil(100 / 10) = 10 masters asked, one per 2 s by the policy, never above 6.
    load.set({ cluster: 'loop' }, 100);
    await waitFor('6 masters', async () => ((await masters('loop')) === 6 ? true : undefined), 20_000, 100);
    await sleep(2500);
    const ups = history.filter((h) => h.masters > 3);
    expect(ups.map((h) => h.masters)).toEqual([4, 5, 6]);
    // Steps follow the policy's 2 s period (1 s polling alone would give 1 s steps), give or take
    // how long each cycle's query took.
    for (let i = 1; i < ups.length; i++) expect(ups[i]!.at - ups[i - 1]!.at).toBeGreaterThanOrEqual(1700);
    const active = await statusOf('loop-masters');
    expect(condition(active, 'Active')).toMatchObject({ status: 'True', reason: 'ScalerActive' });
    expect(Date.parse(active.lastActiveTime)).toBeGreaterThan(Date.now() - 10_000);

    // Down: 35 asks for 4, which waits out the 5 s window of earlier, higher recommendations.
    load.set({ cluster: 'loop' }, 35);
    const dropped = Date.now();
    await waitFor('4 masters', async () => ((await masters('loop')) === 4 ? true : undefined), 20_000, 100);
    const down = history.at(-1)!;
    expect(history.at(-2)?.masters).toBe(6);
    expect(down.at - dropped).toBeGreaterThanOrEqual(4000);

    // Prometheus down: the count stays, the status says why.
    prometheus.kill('SIGTERM');
    await new Promise((r) => prometheus.once('exit', r));
    const failing = await waitFor(
      'the trigger to fail twice',
      async () => {
        const s = await statusOf('loop-masters');
        return s.health?.['s0-prometheus']?.numberOfFailures >= 2 ? s : undefined;
      },
      15_000,
    );
    expect(failing.health['s0-prometheus'].status).toBe('Failing');
    expect(condition(failing, 'Ready')).toMatchObject({ status: 'False', reason: 'TriggerError' });
    expect(condition(failing, 'Ready').message).toContain('s0-prometheus');
    expect(condition(failing, 'Fallback')).toMatchObject({ status: 'False', reason: 'NoFallbackFound' });
    expect(await masters('loop')).toBe(4);

    // A fallback: past failureThreshold failures the trigger stands for fallback.replicas.
    await kube.patch(SO, 'ScaledObject', 'loop-masters', NS, { spec: { fallback: { failureThreshold: 2, replicas: 5 } } });
    await waitFor('the fallback count', async () => ((await masters('loop')) === 5 ? true : undefined), 10_000, 100);
    const fallingBack = await statusOf('loop-masters');
    expect(condition(fallingBack, 'Fallback')).toMatchObject({ status: 'True', reason: 'FallbackExists' });
    expect(fallingBack.health['s0-prometheus'].numberOfFailures).toBeGreaterThan(2);
    watch.stop();

    // kubectl reads the same status.
    const json = JSON.parse(await new Kubectl(api.url).ok(['get', 'scaledobjects.keda.sh', 'loop-masters', '-n', NS, '-o', 'json']));
    expect(condition(json.status, 'Ready').reason).toBe('TriggerError');
  });
});
