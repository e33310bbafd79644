// The TLS Secret as every function reads it: its data decoded, and the options a client verifies
// the nodes' certificates with.
import type { ConnectionOptions } from 'node:tls';
import { isNotFound, type Kube } from '../kube/client.js';
import type { TlsSecretData } from './certificate.js';

/** The Secret's keys decoded; undefined when it does not exist. */
export async function readTlsSecret(kube: Kube, namespace: string, name: string): Promise<TlsSecretData> {
  try {
    const secret = await kube.core.readNamespacedSecret({ name, namespace });
    const data: Record<string, string> = { ...secret.stringData };
    for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
    return data;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * A client's TLS options: the node's certificate must chain to the CA. Its names are not checked,
 * as the nodes do not check each other's: a client reaches a node by Pod address, which a
 * certificate issued before the Pod existed cannot name.
 */
export function clientTls(ca: string): ConnectionOptions {
  return { ca, checkServerIdentity: () => undefined };
}
