// Prometheus's configuration as the Prometheus Operator generates it: one scrape job per
// PodMonitor endpoint (kubernetes_sd_configs role pod against the API server, then the operator's
// relabelling), one rule file per PrometheusRule, and the Alertmanager alerts go to.
import type { KubeObject } from '../apiserver/client.js';

type Obj = Record<string, any>;

/**
 * How Prometheus finds Pods: its own kubernetes_sd against the API server, or, for a Prometheus
 * built without it, an http_sd endpoint that answers with the same targets and labels.
 */
export type PodDiscoveryConfig = { apiUrl: string } | { podsUrl: string; refreshInterval: string };

export interface PrometheusSettings {
  discovery: PodDiscoveryConfig;
  scrapeInterval: string;
  evaluationInterval: string;
  /** host:port of the Alertmanager the alerts are sent to. */
  alertmanager: string;
  /** Where the rule files are (`<dir>/*.yaml`). */
  rulesDir: string;
}

/** Prometheus's label name for a Kubernetes label: every character outside [a-zA-Z0-9_] is `_`. */
export function sanitizeLabelName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function snakeRelabeling(r: Obj): Obj {
  const out: Obj = {};
  const names: Record<string, string> = {
    sourceLabels: 'source_labels',
    separator: 'separator',
    targetLabel: 'target_label',
    regex: 'regex',
    modulus: 'modulus',
    replacement: 'replacement',
    action: 'action',
  };
  for (const [k, v] of Object.entries(r)) if (names[k] && v !== undefined) out[names[k]] = v;
  return out;
}

/** The namespaces the PodMonitor's namespaceSelector names; undefined means every namespace. */
function namespacesOf(pm: KubeObject): string[] | undefined {
  const sel = (pm.spec?.namespaceSelector ?? {}) as { any?: boolean; matchNames?: string[] };
  if (sel.any) return undefined;
  if (sel.matchNames?.length) return [...sel.matchNames];
  return [pm.metadata!.namespace!];
}

function selectorRelabelings(selector: Obj | undefined): Obj[] {
  const out: Obj[] = [];
  for (const [key, value] of Object.entries((selector?.matchLabels ?? {}) as Record<string, string>)) {
    const l = sanitizeLabelName(key);
    out.push({
      action: 'keep',
      source_labels: [`__meta_kubernetes_pod_label_${l}`, `__meta_kubernetes_pod_labelpresent_${l}`],
      regex: `(${value});true`,
    });
  }
  for (const expr of (selector?.matchExpressions ?? []) as { key: string; operator: string; values?: string[] }[]) {
    const l = sanitizeLabelName(expr.key);
    const values = (expr.values ?? []).join('|');
    if (expr.operator === 'In')
      out.push({
        action: 'keep',
        source_labels: [`__meta_kubernetes_pod_label_${l}`, `__meta_kubernetes_pod_labelpresent_${l}`],
        regex: `(${values});true`,
      });
    if (expr.operator === 'NotIn')
      out.push({
        action: 'drop',
        source_labels: [`__meta_kubernetes_pod_label_${l}`, `__meta_kubernetes_pod_labelpresent_${l}`],
        regex: `(${values});true`,
      });
    if (expr.operator === 'Exists') out.push({ action: 'keep', source_labels: [`__meta_kubernetes_pod_labelpresent_${l}`], regex: 'true' });
    if (expr.operator === 'DoesNotExist')
      out.push({ action: 'drop', source_labels: [`__meta_kubernetes_pod_labelpresent_${l}`], regex: 'true' });
  }
  return out;
}

function discoveryOf(d: PodDiscoveryConfig, namespaces: string[] | undefined): Obj {
  if ('apiUrl' in d) {
    return { kubernetes_sd_configs: [{ role: 'pod', api_server: d.apiUrl, ...(namespaces ? { namespaces: { names: namespaces } } : {}) }] };
  }
  const q = new URLSearchParams((namespaces ?? []).map((ns) => ['namespace', ns]));
  const url = q.size ? `${d.podsUrl}?${q}` : d.podsUrl;
  return { http_sd_configs: [{ url, refresh_interval: d.refreshInterval }] };
}

/** The scrape jobs of one PodMonitor, named `podMonitor/<namespace>/<name>/<endpoint index>`. */
export function scrapeConfigsFor(pm: KubeObject, discovery: PodDiscoveryConfig): Obj[] {
  const ns = pm.metadata!.namespace!;
  const name = pm.metadata!.name!;
  const namespaces = namespacesOf(pm);
  const endpoints = (pm.spec?.podMetricsEndpoints ?? []) as Obj[];
  return endpoints.map((ep, i) => {
    const relabel: Obj[] = [
      { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
      ...selectorRelabelings(pm.spec?.selector),
    ];
    if (ep.port) relabel.push({ action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_name'], regex: ep.port });
    else if (ep.targetPort !== undefined)
      relabel.push({ action: 'keep', source_labels: ['__meta_kubernetes_pod_container_port_number'], regex: String(ep.targetPort) });
    relabel.push(
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { target_label: 'job', replacement: `${ns}/${name}` },
    );
    if (ep.port) relabel.push({ target_label: 'endpoint', replacement: ep.port });
    relabel.push(...((ep.relabelings ?? []) as Obj[]).map(snakeRelabeling));
    const job: Obj = {
      job_name: `podMonitor/${ns}/${name}/${i}`,
      honor_labels: Boolean(ep.honorLabels),
      ...discoveryOf(discovery, namespaces),
    };
    if (ep.interval) job.scrape_interval = ep.interval;
    if (ep.scrapeTimeout) job.scrape_timeout = ep.scrapeTimeout;
    if (ep.path) job.metrics_path = ep.path;
    if (ep.scheme) job.scheme = ep.scheme;
    if (ep.params) job.params = ep.params;
    job.relabel_configs = relabel;
    if (ep.metricRelabelings) job.metric_relabel_configs = (ep.metricRelabelings as Obj[]).map(snakeRelabeling);
    return job;
  });
}

/** prometheus.yml for the PodMonitors (in a stable order, so an unchanged set renders the same file). */
export function prometheusConfig(podMonitors: KubeObject[], s: PrometheusSettings): Obj {
  const sorted = [...podMonitors].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
  return {
    global: { scrape_interval: s.scrapeInterval, evaluation_interval: s.evaluationInterval },
    alerting: { alertmanagers: [{ api_version: 'v2', static_configs: [{ targets: [s.alertmanager] }] }] },
    rule_files: [`${s.rulesDir}/*.yaml`],
    scrape_configs: sorted.flatMap((pm) => scrapeConfigsFor(pm, s.discovery)),
  };
}

export function objectKey(o: KubeObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** Each PrometheusRule's groups as a rule file, keyed by its file name `<namespace>-<name>.yaml`. */
export function ruleFiles(rules: KubeObject[]): Map<string, Obj> {
  const files = new Map<string, Obj>();
  for (const r of rules) {
    files.set(`${r.metadata!.namespace}-${r.metadata!.name}.yaml`, { groups: (r.spec?.groups ?? []) as Obj[] });
  }
  return files;
}
