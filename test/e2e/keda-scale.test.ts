// KEDA on the platform, end to end: a ScaledObject whose Prometheus query follows a fixed-rate
// ledger's load moves spec.masters through the RedisCluster's /scale subresource, up one master
// per policy period to maxReplicaCount, and back down to minReplicaCount after the scale-down
// window once the load stops, every acknowledged write kept. Turning on the cluster's alert
// autoscaling as well makes two writers of one field: the ScaledObject is refused, and says why.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { applyCluster, clusterClient, eventually, statusNodes, useE2E, waitForReady } from '../helpers/e2e.js';
import { missingWrites, startLedger } from '../helpers/ledger.js';
import { specMasters } from '../helpers/autoscaling.js';

const NS = 'cache';
const NAME = 'kedac';
const PERIOD_S = 8;

const e2e = useE2E({
  namespaces: [NS],
  monitoring: { scrapeInterval: '1s', evaluationInterval: '1s' },
  operator: { values: { 'redisOperator.service.type': 'ClusterIP', 'prometheus.server.scrapeInterval': '1s' } },
});

const masters = (): Promise<number> => specMasters(e2e, NS, NAME);

function scaledObject(prometheus: string): KubeObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: `${NAME}-masters`, namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: NAME },
      pollingInterval: 2,
      minReplicaCount: 3,
      maxReplicaCount: 5,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: PERIOD_S }] },
            scaleDown: { stabilizationWindowSeconds: 10, policies: [{ type: 'Pods', value: 1, periodSeconds: PERIOD_S }] },
          },
        },
      },
      triggers: [
        {
          type: 'prometheus',
          metadata: {
            serverAddress: prometheus,
            // The clients' writes/s over the whole cluster; AverageValue: one master per 400/s. Not
            // redis_commands_processed_total: a reshard's own MIGRATE/RESTORE traffic would count as
            // load, and scaling down would then hold itself up (it flapped 5 -> 4 -> 5 that way).
            query: `sum(rate(redis_commands_total{namespace="${NS}",redis_cluster="${NAME}",cmd="set"}[4s]))`,
            threshold: '400',
            activationThreshold: '50',
          },
        },
      ],
    },
  };
}

/** The ScaledObject's query at Prometheus, as KEDA's scaler asks it. */
async function queryValue(prometheus: string, query: string): Promise<number> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  return Number(body.data?.result?.[0]?.value[1] ?? NaN);
}

/** The first time the query reads above `level`, polled every 250 ms until `stop` resolves. */
async function firstAbove(prometheus: string, query: string, level: number, stop: { done: boolean }): Promise<number> {
  while (!stop.done) {
    if ((await queryValue(prometheus, query).catch(() => NaN)) > level) return Date.now();
    await new Promise((r) => setTimeout(r, 250));
  }
  return NaN;
}

const printPhases = (t0: number, phases: [string, number][]): void =>
  console.log(phases.map(([what, t]) => `  +${((t - t0) / 1000).toFixed(1).padStart(5)} s  ${what}`).join('\n'));

const readyCondition = async () =>
  ((await e2e.platform.kube.get('keda.sh/v1alpha1', 'ScaledObject', `${NAME}-masters`, NS))?.status?.conditions ?? []).find(
    (c: { type: string }) => c.type === 'Ready',
  ) as { status: string; reason?: string; message?: string } | undefined;

describe('KEDA on the platform', () => {
  it('follows the load up to maxReplicaCount a master per period, and back to minReplicaCount after the window', async () => {
    const { ready } = await applyCluster(e2e, { name: NAME, spec: { masters: 3, replicas: 0 } });
    await e2e.platform.kube.apply(scaledObject(e2e.platform.urls.prometheus!));
    await eventually('the ScaledObject Ready', async () => (await readyCondition())?.status === 'True', 30_000, 500);
    expect(await masters()).toBe(3);

    const ledger = await startLedger(statusNodes(ready), 2000);
    const t0 = Date.now();
    const trigger = (scaledObject(e2e.platform.urls.prometheus!).spec as { triggers: { metadata: Record<string, string> }[] }).triggers[0]!
      .metadata;
    // AverageValue: 3 masters become 4 once the query reads above 3 x threshold.
    const polling = { done: false };
    const crossed = firstAbove(trigger.serverAddress!, trigger.query!, 3 * Number(trigger.threshold), polling);
    await eventually('KEDA to 4 masters', async () => (await masters()) === 4, 90_000, 250);
    const at4 = Date.now();
    polling.done = true;
    await eventually('KEDA to 5 masters', async () => (await masters()) === 5, 90_000, 250);
    const at5 = Date.now();
    // The scale-up policy: one master per period.
    expect(at5 - at4).toBeGreaterThanOrEqual((PERIOD_S - 1) * 1000);
    await waitForReady(e2e, NS, NAME, 150_000, 5);
    printPhases(t0, [
      ['load started', t0],
      ['the query above 3 x threshold at Prometheus (scrape + rate window)', await crossed],
      ['spec.masters 4 (KEDA polling + the HPA arithmetic + the /scale write)', at4],
      ['spec.masters 5 (the scale-up policy period)', at5],
      ['5 masters Ready (reshards)', Date.now()],
    ]);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await masters()).toBe(5);
    const { acknowledged } = await ledger.stop();
    expect(acknowledged.length).toBeGreaterThan(20_000);

    const idle = Date.now();
    await eventually('KEDA down to 4 masters', async () => (await masters()) === 4, 90_000, 250);
    // The scale-down stabilization window holds the highest recommendation for 10 s.
    expect(Date.now() - idle).toBeGreaterThanOrEqual(9000);
    await eventually('KEDA down to 3 masters', async () => (await masters()) === 3, 120_000, 250).catch(async (err: Error) => {
      const so = await e2e.platform.kube.get('keda.sh/v1alpha1', 'ScaledObject', `${NAME}-masters`, NS);
      throw new Error(`${err.message}; ScaledObject status: ${JSON.stringify(so?.status)}`);
    });
    const after = await waitForReady(e2e, NS, NAME, 150_000, 3);
    const client = clusterClient(after);
    try {
      expect(await missingWrites(client, acknowledged)).toEqual([]);
    } finally {
      client.disconnect();
    }
  }, 600_000);

  it("refuses to be a second writer of spec.masters beside the cluster's alert autoscaling", async () => {
    const patched = await e2e.kubectl([
      'patch',
      'rediscluster',
      NAME,
      '-n',
      NS,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { autoscaling: { enabled: true, minMasters: 3, maxMasters: 5 } } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const refused = await eventually(
      'the ScaledObject refused',
      async () => {
        const c = await readyCondition();
        return c?.status === 'False' ? c : undefined;
      },
      30_000,
      500,
    );
    expect(refused.reason).toBe('ScaledObjectCheckFailed');
    expect(refused.message).toMatch(/autoscaling/);
  }, 60_000);
});
