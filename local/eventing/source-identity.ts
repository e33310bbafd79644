// The identity an ApiServerSource's adapter runs with: its `serviceAccountName` (Knative's default:
// the namespace's `default`), through a token from TokenRequest, so the source sees only what
// that ServiceAccount's roles let it list and watch.
import { KubeRest, type KubeObject } from '../apiserver/client.js';

const TOKEN_SECONDS = 3600;
/** A token is replaced once this share of its lifetime has gone, as the kubelet refreshes them. */
const REFRESH_AT = 0.8;

export function sourceServiceAccount(source: KubeObject): string {
  return (source.spec?.serviceAccountName as string | undefined) || 'default';
}

/** A client acting as the source's ServiceAccount; `admin` (the platform's own client) requests the tokens. */
export function sourceClient(admin: KubeRest, source: KubeObject): KubeRest {
  const namespace = source.metadata!.namespace!;
  const name = sourceServiceAccount(source);
  let current: { token: string; renewAt: number } | undefined;
  const token = async (): Promise<string> => {
    if (current && Date.now() < current.renewAt) return current.token;
    const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: TOKEN_SECONDS } };
    const answer = await admin.createSubresource('v1', 'ServiceAccount', name, namespace, 'token', body);
    current = { token: String(answer.status?.token ?? ''), renewAt: Date.now() + TOKEN_SECONDS * 1000 * REFRESH_AT };
    return current.token;
  };
  return new KubeRest(admin.baseUrl, token);
}
