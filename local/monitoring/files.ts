// The files Prometheus and Alertmanager read, rendered from the API server's objects: written only
// when their content changes, so the caller knows which program has to reload.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeRest } from '../apiserver/client.js';
import { prometheusConfig, ruleFiles, type PodDiscoveryConfig } from './prometheus-config.js';
import { alertmanagerConfig, type SecretFile } from './alertmanager-config.js';

export const MONITORING_KINDS: [string, string][] = [
  ['monitoring.coreos.com/v1', 'PodMonitor'],
  ['monitoring.coreos.com/v1', 'PrometheusRule'],
  ['monitoring.coreos.com/v1alpha1', 'AlertmanagerConfig'],
  ['v1', 'Secret'],
];

/** Where everything lives under `<stateDir>/monitoring`. */
export function monitoringLayout(stateDir: string) {
  const root = join(stateDir, 'monitoring');
  const layout = {
    root,
    promData: join(root, 'prometheus', 'data'),
    rules: join(root, 'prometheus', 'rules'),
    promConfig: join(root, 'prometheus', 'prometheus.yml'),
    amData: join(root, 'alertmanager', 'data'),
    secrets: join(root, 'alertmanager', 'secrets'),
    amConfig: join(root, 'alertmanager', 'alertmanager.yml'),
  };
  for (const d of [layout.promData, layout.rules, layout.amData, layout.secrets]) mkdirSync(d, { recursive: true });
  return layout;
}
export type MonitoringLayout = ReturnType<typeof monitoringLayout>;

export interface RenderSettings {
  discovery: PodDiscoveryConfig;
  scrapeInterval: string;
  evaluationInterval: string;
  /** host:port of the Alertmanager. */
  alertmanager: string;
  activatorUrl?: string;
  log: (msg: string) => void;
}

/** Writes the file only when its content differs; true when it did. */
function writeIfChanged(file: string, content: string, mode = 0o644): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) return false;
  writeFileSync(file, content, { mode });
  return true;
}

async function secretValue(kube: KubeRest, s: SecretFile): Promise<string | undefined> {
  const secret = await kube.get('v1', 'Secret', s.name, s.namespace);
  const data = (secret?.data as Record<string, string> | undefined)?.[s.key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/** Renders every file from the objects in every namespace; says which of the two programs must reload. */
export async function renderFiles(
  kube: KubeRest,
  layout: MonitoringLayout,
  s: RenderSettings,
): Promise<{ prometheus: boolean; alertmanager: boolean }> {
  const [podMonitors, rules, amConfigs] = await Promise.all(
    MONITORING_KINDS.slice(0, 3).map(async ([gv, kind]) => (await kube.list(gv, kind)).items),
  );
  const { discovery, scrapeInterval, evaluationInterval, alertmanager: target } = s;
  const config = prometheusConfig(podMonitors!, {
    discovery,
    scrapeInterval,
    evaluationInterval,
    alertmanager: target,
    rulesDir: layout.rules,
  });
  let prometheus = writeIfChanged(layout.promConfig, stringify(config));
  const files = ruleFiles(rules!);
  for (const [name, content] of files) prometheus = writeIfChanged(join(layout.rules, name), stringify(content)) || prometheus;
  for (const stale of readdirSync(layout.rules).filter((f) => !files.has(f))) {
    rmSync(join(layout.rules, stale));
    prometheus = true;
  }
  const am = alertmanagerConfig(amConfigs!, {
    proxyUrl: s.activatorUrl,
    secretFile: (ns, name, key) => join(layout.secrets, `${ns}_${name}_${key}`),
  });
  for (const secret of am.secrets) {
    const value = await secretValue(kube, secret);
    if (value === undefined) s.log(`monitoring: Secret ${secret.namespace}/${secret.name} has no key ${secret.key} (yet)`);
    // Alertmanager reads credentials_file on every notification: a changed token needs no reload.
    writeIfChanged(secret.file, value ?? '', 0o600);
  }
  return { prometheus, alertmanager: writeIfChanged(layout.amConfig, stringify(am.config)) };
}
