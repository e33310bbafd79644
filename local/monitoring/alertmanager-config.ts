// alertmanager.yml as the Prometheus Operator renders AlertmanagerConfigs (v1alpha1) with
// alertmanagerConfigMatcherStrategy None: a top route to a receiver named "null", and one sub-route
// per AlertmanagerConfig (continue: true) whose receivers are named `<namespace>/<name>/<receiver>`.
// Secrets are referenced as files (credentials_file), never inlined.
import type { KubeObject } from '../apiserver/client.js';
import { objectKey } from './prometheus-config.js';

type Obj = Record<string, any>;

/** A Secret key an AlertmanagerConfig refers to, and the file its value is written to. */
export interface SecretFile {
  namespace: string;
  name: string;
  key: string;
  file: string;
}

export interface AlertmanagerSettings {
  /** Every webhook goes through this HTTP proxy (the activator, which knows cluster-local names). */
  proxyUrl?: string;
  /** The file that holds a Secret's key. */
  secretFile: (namespace: string, name: string, key: string) => string;
}

const MATCH_TYPES = new Set(['=', '!=', '=~', '!~']);

function matcherString(m: { name: string; value?: string; matchType?: string; regex?: boolean }): string {
  const op = m.matchType ?? (m.regex ? '=~' : '=');
  if (!MATCH_TYPES.has(op)) throw new Error(`matcher ${m.name}: unknown matchType ${op}`);
  return `${m.name}${op}${JSON.stringify(m.value ?? '')}`;
}

function receiverName(amc: KubeObject, name: string): string {
  return `${amc.metadata!.namespace}/${amc.metadata!.name}/${name}`;
}

function convertRoute(amc: KubeObject, route: Obj, top: boolean): Obj {
  const out: Obj = {};
  if (route.receiver) out.receiver = receiverName(amc, route.receiver);
  if (route.groupBy) out.group_by = route.groupBy;
  if (route.matchers?.length) out.matchers = (route.matchers as Obj[]).map((m) => matcherString(m as never));
  if (top || route.continue) out.continue = true;
  if (route.groupWait) out.group_wait = route.groupWait;
  if (route.groupInterval) out.group_interval = route.groupInterval;
  if (route.repeatInterval) out.repeat_interval = route.repeatInterval;
  if (route.routes?.length) out.routes = (route.routes as Obj[]).map((r) => convertRoute(amc, r, false));
  return out;
}

function httpConfig(amc: KubeObject, hc: Obj | undefined, s: AlertmanagerSettings, secrets: SecretFile[]): Obj | undefined {
  const out: Obj = {};
  const ns = amc.metadata!.namespace!;
  const auth = hc?.authorization as { type?: string; credentials?: { name: string; key: string } } | undefined;
  if (auth?.credentials) {
    const file = s.secretFile(ns, auth.credentials.name, auth.credentials.key);
    secrets.push({ namespace: ns, name: auth.credentials.name, key: auth.credentials.key, file });
    out.authorization = { type: auth.type ?? 'Bearer', credentials_file: file };
  }
  if (s.proxyUrl) out.proxy_url = s.proxyUrl;
  return Object.keys(out).length ? out : undefined;
}

function convertReceiver(amc: KubeObject, r: Obj, s: AlertmanagerSettings, secrets: SecretFile[]): Obj {
  const out: Obj = { name: receiverName(amc, r.name) };
  if (r.webhookConfigs?.length) {
    out.webhook_configs = (r.webhookConfigs as Obj[]).map((w) => {
      const hook: Obj = { url: w.url, send_resolved: w.sendResolved ?? true };
      if (w.maxAlerts !== undefined) hook.max_alerts = w.maxAlerts;
      const hc = httpConfig(amc, w.httpConfig, s, secrets);
      if (hc) hook.http_config = hc;
      return hook;
    });
  }
  return out;
}

/** alertmanager.yml for the AlertmanagerConfigs, and the Secret keys it reads from files. */
export function alertmanagerConfig(configs: KubeObject[], s: AlertmanagerSettings): { config: Obj; secrets: SecretFile[] } {
  const sorted = [...configs].sort((a, b) => objectKey(a).localeCompare(objectKey(b)));
  const secrets: SecretFile[] = [];
  const routes: Obj[] = [];
  const receivers: Obj[] = [{ name: 'null' }];
  for (const amc of sorted) {
    if (amc.spec?.route) routes.push(convertRoute(amc, amc.spec.route as Obj, true));
    for (const r of (amc.spec?.receivers ?? []) as Obj[]) receivers.push(convertReceiver(amc, r, s, secrets));
  }
  const config = {
    route: { receiver: 'null', group_by: ['namespace'], routes },
    receivers,
    templates: [],
  };
  return { config, secrets };
}
