// The ServiceAccount mount every Pod gets unless it opts out (the `kube-api-access-*` projected
// volume): a token from TokenRequest bound to the Pod, its namespace and the cluster's CA, at the
// path in-cluster clients read; and a kubeconfig naming that token, which is how client libraries
// on this platform find the API server.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { kubeConfigYaml } from '../apiserver/kubeconfig.js';
import type { PathMapping } from './command.js';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** What the kubelet asks for; the API server extends such a Pod-bound token to a year. */
const TOKEN_SECONDS = 3607;

export interface ServiceAccountSource {
  /** The ServiceAccount's automountServiceAccountToken; null when the ServiceAccount does not say. */
  automount(namespace: string, name: string): Promise<boolean | null>;
  /** POST serviceaccounts/{name}/token bound to the Pod; throws with the API server's message. */
  requestToken(pod: V1Pod, expirationSeconds: number, audiences?: string[]): Promise<string>;
}

export const serviceAccountOf = (pod: V1Pod): string => pod.spec?.serviceAccountName || 'default';

/** The Pod's own field wins over its ServiceAccount's; both absent means mounted. */
export async function automounts(pod: V1Pod, source: ServiceAccountSource): Promise<boolean> {
  const own = pod.spec?.automountServiceAccountToken;
  if (own !== undefined && own !== null) return own;
  return (await source.automount(pod.metadata?.namespace ?? 'default', serviceAccountOf(pod))) ?? true;
}

async function writeAtomically(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.writeFile(tmp, data, { mode });
  await fs.rename(tmp, file);
}

/**
 * Writes token, namespace, ca.crt and the kubeconfig under the Pod's directory; the mapping puts
 * the files where a container looks for them. The API server speaks plain HTTP: ca.crt is empty.
 */
export async function mountServiceAccount(
  pod: V1Pod,
  podDir: string,
  apiUrl: string,
  source: ServiceAccountSource,
): Promise<{ mapping: PathMapping; kubeconfig: string }> {
  const dir = path.join(podDir, 'serviceaccount');
  await fs.mkdir(dir, { recursive: true });
  const namespace = pod.metadata?.namespace ?? 'default';
  const token = await source.requestToken(pod, TOKEN_SECONDS);
  const tokenFile = path.join(dir, 'token');
  await writeAtomically(tokenFile, token, 0o600);
  await writeAtomically(path.join(dir, 'namespace'), namespace, 0o644);
  await writeAtomically(path.join(dir, 'ca.crt'), '', 0o644);
  const kubeconfig = path.join(podDir, 'kubeconfig');
  await writeAtomically(kubeconfig, kubeConfigYaml(apiUrl, namespace, tokenFile), 0o600);
  return { mapping: { mountPath: SERVICE_ACCOUNT_MOUNT, hostPath: dir }, kubeconfig };
}
