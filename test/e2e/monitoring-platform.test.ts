// Monitoring on the embedded platform, end to end with the real programs: the chart installed by
// helm, a RedisCluster's redis-server and redis_exporter Pods, real Prometheus finding the exporters
// through the platform's Pod discovery and the PodMonitor's relabelling, the chart's rules loaded,
// and a HighThroughput alert (a threshold of 0.001 commands/s, which the exporter's own INFO
// calls pass) going from Prometheus to the real Alertmanager, then
// through the activator (Alertmanager's proxy) to the alert-bridge, whose event reaches a Trigger's
// subscriber on the Broker. A PrometheusRule applied or deleted later is loaded or dropped (reload),
// and stop() ends both programs.
import { afterAll, describe, expect, it } from 'vitest';
import { applyCluster, eventually, useE2E } from '../helpers/e2e.js';
import { startMonitoring, type Monitoring } from '../../local/monitoring/index.js';
import { recorder, type Recorder } from '../fixtures/knative/harness.js';

const OPERATOR_NS = 'redis-operator';
const NS = 'cache';
const CLUSTER = 'monitored';
const FIRING = 'redis.redis.alert.firing.v1';

let subscriber: Recorder | undefined;
let monitoring: Monitoring | undefined;

const e2e = useE2E(
  {
    namespaces: [NS],
    operator: {
      values: {
        'redisOperator.service.type': 'ClusterIP',
        'prometheus.server.scrapeInterval': '1s',
        'prometheus.server.evaluationInterval': '1s',
        'redisOperator.metrics.prometheusRule.rules.throughputThreshold': 0.001,
        'redisOperator.metrics.prometheusRule.rules.highFor': '2s',
        'redisOperator.metrics.prometheusRule.rules.rateWindow': '10s',
        'redisOperator.metrics.alertmanagerConfig.groupWait': '1s',
      },
    },
  },
  async (e) => {
    subscriber = await recorder();
    await e.platform.kube.apply({
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'monitoring-e2e-observer', namespace: OPERATOR_NS },
      spec: {
        broker: 'default',
        filters: [{ exact: { type: FIRING } }, { exact: { rcname: CLUSTER } }],
        subscriber: { uri: subscriber.url },
      },
    });
    monitoring = await startMonitoring({
      apiUrl: e.platform.urls.api,
      stateDir: e.stateDir,
      activatorUrl: e.platform.urls.serving,
      scrapeInterval: '1s',
      evaluationInterval: '1s',
      prometheusPort: 0,
      alertmanagerPort: 0,
    });
  },
);

afterAll(async () => {
  await monitoring?.stop();
  await subscriber?.close();
});

/** Prometheus's HTTP API answer's `data`. */
async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: T }).data;
}

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
}

describe('monitoring on the platform', () => {
  it('scrapes the cluster exporters, loads the chart rules, and an alert reaches the alert-bridge', async () => {
    const { ready } = await applyCluster(e2e, { name: CLUSTER, namespace: NS, spec: { masters: 3, replicas: 0 } });
    const nodes = (ready.status as { nodes: { pod: string; ip: string; port: number }[] }).nodes;
    const m = monitoring!;

    const targets = await eventually(
      'Prometheus to scrape every exporter of the cluster',
      async () => {
        const t = (await api<{ activeTargets: Target[] }>(`${m.prometheusUrl}/api/v1/targets`)).activeTargets.filter(
          (x) => x.labels.redis_cluster === CLUSTER,
        );
        return t.length === nodes.length && t.every((x) => x.health === 'up') ? t : undefined;
      },
      60_000,
      500,
    );
    expect(targets.map((t) => t.labels.pod).sort()).toEqual(nodes.map((n) => n.pod).sort());
    for (const t of targets) {
      expect(t.labels).toMatchObject({ namespace: NS, container: 'exporter', job: `${OPERATOR_NS}/redis-operator-redis-cluster` });
      const node = nodes.find((n) => n.pod === t.labels.pod)!;
      expect(t.scrapeUrl).toBe(`http://${node.ip}:${node.port + 5000}/metrics`);
    }

    const up = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `${m.prometheusUrl}/api/v1/query?query=${encodeURIComponent(`redis_up{redis_cluster="${CLUSTER}"}`)}`,
    );
    expect(up.result.map((r) => [r.metric.pod, r.value[1]]).sort()).toEqual(nodes.map((n) => [n.pod, '1']).sort());

    const rules = await api<{ groups: { rules: { name: string }[] }[] }>(`${m.prometheusUrl}/api/v1/rules`);
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.name))).toEqual(
      expect.arrayContaining(['HighMemoryUsage', 'HighThroughput', 'LowMemoryUsage', 'LowThroughput']),
    );

    const inAlertmanager = await eventually(
      'HighThroughput to reach Alertmanager',
      async () => {
        const res = await fetch(`${m.alertmanagerUrl}/api/v2/alerts?filter=${encodeURIComponent(`redis_cluster="${CLUSTER}"`)}`);
        const alerts = (await res.json()) as { labels: Record<string, string>; status: { state: string } }[];
        return alerts.find((a) => a.labels.alertname === 'HighThroughput' && a.status.state === 'active');
      },
      60_000,
      500,
    );
    expect(inAlertmanager.labels).toMatchObject({ namespace: NS, redis_cluster: CLUSTER, scaling: 'up' });

    const event = await eventually(
      'the alert-bridge event on the Broker',
      async () => subscriber!.received.find((d) => d.body.includes('HighThroughput')),
      30_000,
    );
    expect(event.headers['ce-type']).toBe(FIRING);
    expect(event.headers['ce-rcname']).toBe(CLUSTER);
  }, 110_000);

  it('reloads Prometheus when a PrometheusRule is applied, and again when it is deleted', async () => {
    const m = monitoring!;
    const groupNames = async (): Promise<string[]> =>
      (await api<{ groups: { name: string }[] }>(`${m.prometheusUrl}/api/v1/rules`)).groups.map((g) => g.name);
    const kube = e2e.platform.kube;
    await kube.apply({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: 'extra', namespace: NS },
      spec: { groups: [{ name: 'e2e-extra', rules: [{ record: 'cluster:redis_up:sum', expr: 'sum(redis_up)' }] }] },
    });
    await eventually('the new rule group to be loaded', async () => (await groupNames()).includes('e2e-extra'), 20_000, 300);
    await kube.delete('monitoring.coreos.com/v1', 'PrometheusRule', 'extra', NS);
    await eventually('the rule group to be dropped', async () => !(await groupNames()).includes('e2e-extra'), 20_000, 300);
    expect(await groupNames()).toEqual(expect.arrayContaining(['redis-cluster-autoscaling']));
  }, 45_000);

  it('stops both programs with stop()', async () => {
    const m = monitoring!;
    await m.stop();
    monitoring = undefined;
    const answers = async (url: string): Promise<boolean> =>
      fetch(`${url}/-/healthy`).then(
        () => true,
        () => false,
      );
    expect(await answers(m.prometheusUrl)).toBe(false);
    expect(await answers(m.alertmanagerUrl)).toBe(false);
  }, 20_000);
});
