// Addressable resolution (Knative "Destination"): a `ref` to an object whose status carries an
// address (Broker, Knative Service), optionally with a `uri` path appended, or a plain `uri`.
import type { KubeRest } from '../apiserver/client.js';

export interface Destination {
  ref?: { apiVersion?: string; kind?: string; name?: string; namespace?: string };
  uri?: string;
}

export class NotResolvable extends Error {}

/** Appends a relative uri to a resolved base. Paths are appended to the base's path (local URLs carry a path prefix). */
export function joinUri(base: string, uri: string | undefined): string {
  if (!uri) return base;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return uri;
  return `${base.replace(/\/+$/, '')}/${uri.replace(/^\/+/, '')}`;
}

export async function resolveDestination(kube: KubeRest, namespace: string, dest: Destination | undefined, field: string): Promise<string> {
  if (!dest || (!dest.ref && !dest.uri)) throw new NotResolvable(`${field}: neither ref nor uri is set`);
  if (!dest.ref) {
    if (!/^https?:\/\//.test(dest.uri!))
      throw new NotResolvable(`${field}.uri: ${JSON.stringify(dest.uri)} is not an absolute http(s) URL`);
    return dest.uri!;
  }
  const { apiVersion, kind, name } = dest.ref;
  if (!apiVersion || !kind || !name) throw new NotResolvable(`${field}.ref: apiVersion, kind and name are required`);
  if (apiVersion === 'v1' && kind === 'Service') {
    throw new NotResolvable(
      `${field}.ref: a core v1 Service cannot be reached on the local platform; reference the Knative Service (serving.knative.dev/v1) instead`,
    );
  }
  const ns = dest.ref.namespace ?? namespace;
  const obj = await kube.get(apiVersion, kind, name, ns);
  if (!obj) throw new NotResolvable(`${field}.ref: ${kind} ${ns}/${name} not found`);
  const url = (obj.status?.address?.url as string | undefined) ?? (obj.status?.url as string | undefined);
  if (!url) throw new NotResolvable(`${field}.ref: ${kind} ${ns}/${name} has no status.address.url yet`);
  return joinUri(url, dest.uri);
}
