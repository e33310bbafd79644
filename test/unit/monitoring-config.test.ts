// The Prometheus Operator's part, done by the platform: the chart's PodMonitor, PrometheusRule and
// AlertmanagerConfig as helm renders them, turned into prometheus.yml, rule files and
// alertmanager.yml, which the real promtool and amtool accept.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { documentsBySource, helmTemplate } from '../../scripts/helm.js';
import type { KubeObject } from '../../local/apiserver/client.js';
import { prometheusConfig, ruleFiles, sanitizeLabelName, scrapeConfigsFor } from '../../local/monitoring/prometheus-config.js';
import { alertmanagerConfig } from '../../local/monitoring/alertmanager-config.js';
import { podTargetGroups } from '../../local/monitoring/pod-discovery.js';

const API = 'http://127.0.0.1:8001';
const dir = mkdtempSync(join(tmpdir(), 'monitoring-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rendered = documentsBySource(
  helmTemplate({
    setJson: {
      'prometheus.server.scrapeInterval': '7s',
      'prometheus.server.evaluationInterval': '3s',
      'redisOperator.metrics.alertmanagerConfig.tokenSecret.token': 's3cret',
    },
  }),
);
const doc = (source: string): KubeObject => parse(rendered.get(source)![0]!) as KubeObject;
const podMonitor = doc('templates/podmonitor.yaml');
const prometheusRule = doc('templates/prometheusrule.yaml');
const amConfig = doc('templates/alertmanager-config.yaml');

function tool(cmd: string, ...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('PodMonitor -> scrape jobs', () => {
  it('scrapes the chart PodMonitor endpoint with kubernetes_sd in every namespace and its relabelling', () => {
    const [job, ...rest] = scrapeConfigsFor(podMonitor, { apiUrl: API });
    expect(rest).toHaveLength(0);
    expect(job!.job_name).toBe('podMonitor/redis-operator/redis-operator-redis-cluster/0');
    // namespaceSelector any: true lists Pods of every namespace.
    expect(job!.kubernetes_sd_configs).toEqual([{ role: 'pod', api_server: API }]);
    expect(job!.scrape_interval).toBe('7s');
    expect(job!.metrics_path).toBe('/metrics');
    const relabel = job!.relabel_configs as Record<string, unknown>[];
    expect(relabel).toContainEqual({
      action: 'keep',
      source_labels: ['__meta_kubernetes_pod_label_app_kubernetes_io_name', '__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name'],
      regex: '(redis-cluster);true',
    });
    expect(relabel).toContainEqual({ action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: 'metrics' });
    expect(relabel).toContainEqual({ source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' });
    expect(relabel).toContainEqual({ target_label: 'job', replacement: 'redis-operator/redis-operator-redis-cluster' });
    // The PodMonitor's own relabelings come last, in the field's snake_case.
    expect(relabel.at(-1)).toEqual({ source_labels: ['__meta_kubernetes_pod_label_redis_redis_shard'], target_label: 'redis_shard' });
  });

  it('takes namespaces from matchNames, and the PodMonitor namespace when there is no selector', () => {
    const named = { ...podMonitor, spec: { ...podMonitor.spec, namespaceSelector: { matchNames: ['cache', 'web'] } } };
    expect(scrapeConfigsFor(named, { apiUrl: API })[0]!.kubernetes_sd_configs[0].namespaces).toEqual({ names: ['cache', 'web'] });
    const own = { ...podMonitor, spec: { ...podMonitor.spec, namespaceSelector: undefined } };
    expect(scrapeConfigsFor(own, { apiUrl: API })[0]!.kubernetes_sd_configs[0].namespaces).toEqual({ names: ['redis-operator'] });
    expect(sanitizeLabelName('redis.redis/cluster')).toBe('redis_redis_cluster');
    // The same namespaces through the http_sd stand-in, as query parameters.
    const viaHttp = scrapeConfigsFor(named, { podsUrl: 'http://127.0.0.1:9999/pods', refreshInterval: '5s' })[0]!;
    expect(viaHttp.http_sd_configs[0].url).toBe('http://127.0.0.1:9999/pods?namespace=cache&namespace=web');
    expect(viaHttp.kubernetes_sd_configs).toBeUndefined();
  });

  it('writes a prometheus.yml and rule files promtool accepts', () => {
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir, { recursive: true });
    const files = ruleFiles([prometheusRule]);
    expect([...files.keys()]).toEqual(['redis-operator-redis-operator-redis-cluster-rules.yaml']);
    for (const [name, content] of files) writeFileSync(join(rulesDir, name), stringify(content));
    const config = prometheusConfig([podMonitor], {
      discovery: { podsUrl: 'http://127.0.0.1:9999/pods', refreshInterval: '5s' },
      scrapeInterval: '5s',
      evaluationInterval: '5s',
      alertmanager: '127.0.0.1:9093',
      rulesDir,
    });
    expect(config.scrape_configs[0].http_sd_configs).toEqual([{ url: 'http://127.0.0.1:9999/pods', refresh_interval: '5s' }]);
    expect(config.alerting.alertmanagers[0].static_configs).toEqual([{ targets: ['127.0.0.1:9093'] }]);
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, stringify(config));
    const check = tool('promtool', 'check', 'config', file);
    expect(check.status, check.out).toBe(0);
    expect(check.out).toMatch(/5 rules found/);
    const rules = tool('promtool', 'check', 'rules', join(rulesDir, [...files.keys()][0]!));
    expect(rules.status, rules.out).toBe(0);
    const group = (files.values().next().value as { groups: { interval: string; rules: { alert?: string; record?: string }[] }[] })
      .groups[0]!;
    expect(group.interval).toBe('3s');
    expect(group.rules.map((r) => r.alert ?? r.record)).toEqual([
      'namespace_redis_cluster_pod:redis_client_commands:rate',
      'HighMemoryUsage',
      'HighThroughput',
      'LowMemoryUsage',
      'LowThroughput',
    ]);
  });

  it('promtool refuses a broken rule file, so the check above means something', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'sum(' }] }] }));
    expect(tool('promtool', 'check', 'rules', bad).status).not.toBe(0);
  });
});

describe('AlertmanagerConfig -> alertmanager.yml', () => {
  const secretFile = (ns: string, name: string, key: string): string => join(dir, `${ns}_${name}_${key}`);
  const { config, secrets } = alertmanagerConfig([amConfig], { proxyUrl: 'http://127.0.0.1:8003', secretFile });

  it('routes the four alerts to the webhook with the bearer token from a file, through the proxy', () => {
    expect(config.route.receiver).toBe('null');
    const [route] = config.route.routes;
    expect(route).toEqual({
      receiver: 'redis-operator/redis-operator-redis-cluster-autoscaling/redis-operator',
      group_by: ['namespace', 'redis_cluster', 'alertname'],
      matchers: ['alertname=~"HighMemoryUsage|HighThroughput|LowMemoryUsage|LowThroughput"', 'redis_cluster=~".+"'],
      continue: true,
      group_wait: '30s',
      group_interval: '5m',
      repeat_interval: '10m',
    });
    const receiver = config.receivers.find((r: { name: string }) => r.name === route.receiver);
    expect(receiver.webhook_configs).toEqual([
      {
        url: 'http://alert-bridge.redis-operator.svc.cluster.local/webhooks/alertmanager',
        send_resolved: true,
        http_config: {
          authorization: { type: 'Bearer', credentials_file: secretFile('redis-operator', 'alert-bridge-webhook', 'token') },
          proxy_url: 'http://127.0.0.1:8003',
        },
      },
    ]);
    expect(secrets).toEqual([
      {
        namespace: 'redis-operator',
        name: 'alert-bridge-webhook',
        key: 'token',
        file: secretFile('redis-operator', 'alert-bridge-webhook', 'token'),
      },
    ]);
  });

  it('passes amtool check-config, and amtool refuses a route to an unknown receiver', () => {
    writeFileSync(secrets[0]!.file, 's3cret');
    const file = join(dir, 'alertmanager.yml');
    writeFileSync(file, stringify(config));
    const ok = tool('amtool', 'check-config', file);
    expect(ok.status, ok.out).toBe(0);
    const broken = join(dir, 'broken.yml');
    writeFileSync(broken, stringify({ ...config, receivers: [{ name: 'null' }] }));
    expect(tool('amtool', 'check-config', broken).status).not.toBe(0);
  });
});

describe('Pod discovery (kubernetes_sd role pod, over http_sd)', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'rc-0',
      namespace: 'cache',
      uid: 'u1',
      labels: { 'redis.redis/cluster': 'rc', 'app.kubernetes.io/name': 'redis-cluster' },
    },
    spec: {
      nodeName: 'node-1',
      containers: [
        { name: 'redis', image: 'redis:7', ports: [{ name: 'redis', containerPort: 10000 }] },
        { name: 'redis-exporter', image: 'exporter', ports: [{ name: 'metrics', containerPort: 15000 }] },
        { name: 'sidecar' },
      ],
    },
    status: { podIP: '127.1.0.9', hostIP: '127.0.0.2', phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };

  it('finds a target per container port, a bare address for a container without ports, with the pod labels', () => {
    const groups = podTargetGroups(pod);
    expect(groups.map((g) => g.targets[0])).toEqual(['127.1.0.9:10000', '127.1.0.9:15000', '127.1.0.9']);
    expect(groups[1]!.labels).toMatchObject({
      __meta_kubernetes_namespace: 'cache',
      __meta_kubernetes_pod_name: 'rc-0',
      __meta_kubernetes_pod_ready: 'true',
      __meta_kubernetes_pod_node_name: 'node-1',
      __meta_kubernetes_pod_label_redis_redis_cluster: 'rc',
      __meta_kubernetes_pod_labelpresent_redis_redis_cluster: 'true',
      __meta_kubernetes_pod_container_name: 'redis-exporter',
      __meta_kubernetes_pod_container_port_name: 'metrics',
      __meta_kubernetes_pod_container_port_number: '15000',
      __meta_kubernetes_pod_container_port_protocol: 'TCP',
    });
    expect(groups[2]!.labels.__meta_kubernetes_pod_container_port_name).toBeUndefined();
  });

  it('finds nothing for a Pod without an address yet', () => {
    expect(podTargetGroups({ ...pod, status: { phase: 'Pending' } })).toEqual([]);
  });
});
