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
    await eventually('KEDA to 4 masters', async () => (await masters()) === 4, 90_000, 250);
    const at4 = Date.now();
    await eventually('KEDA to 5 masters', async () => (await masters()) === 5, 90_000, 250);
    // The scale-up policy: one master per period.
    expect(Date.now() - at4).toBeGreaterThanOrEqual((PERIOD_S - 1) * 1000);
    await waitForReady(e2e, NS, NAME, 150_000, 5);
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
