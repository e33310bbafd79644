// The operator on the embedded platform, installed the way users install it: real helm, the
// project's chart, against the platform's API server (helm keeps its releases there as Secrets).
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { kubeConfigYaml } from './apiserver/kubeconfig.js';
import { helmAsync, OPERATOR_CHART, type HelmResult } from '../scripts/helm.js';

export const OPERATOR_RELEASE = { name: 'redis-operator', namespace: 'redis-operator' };
export const PLATFORM_VALUES = resolve(import.meta.dirname, 'values.yaml');

export interface OperatorInstall {
  /** `--set-json` values on top of local/values.yaml, e.g. `{ logLevel: 'debug' }`. */
  values?: Record<string, unknown>;
}

/** Runs helm against the platform: a kubeconfig and helm's own directories under stateDir. */
export function helmFor(apiUrl: string, stateDir: string): (args: string[]) => Promise<HelmResult> {
  const dir = join(stateDir, 'helm');
  mkdirSync(dir, { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeConfigYaml(apiUrl, OPERATOR_RELEASE.namespace));
  const env = {
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: join(dir, 'cache'),
    HELM_CONFIG_HOME: join(dir, 'config'),
    HELM_DATA_HOME: join(dir, 'data'),
  };
  return (args) => helmAsync(args, env);
}

/** `helm upgrade --install` of the operator chart; throws with helm's message when it fails. */
export async function installOperator(helm: (args: string[]) => Promise<HelmResult>, opts: OperatorInstall = {}): Promise<void> {
  const { name, namespace } = OPERATOR_RELEASE;
  // The bearer token Alertmanager and the alert-bridge share, new for each install.
  const token = randomBytes(24).toString('hex');
  const args = ['upgrade', name, OPERATOR_CHART, '--install', '--create-namespace', '--namespace', namespace, '--values', PLATFORM_VALUES];
  args.push('--set-json', `redisOperator.metrics.alertmanagerConfig.tokenSecret.token=${JSON.stringify(token)}`);
  for (const [k, v] of Object.entries(opts.values ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  const r = await helm(args);
  if (r.status !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')}: ${r.stderr.trim()}`);
}
