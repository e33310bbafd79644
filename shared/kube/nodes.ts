// What every function needs to reach a cluster's Redis nodes: their addresses (the Pods) and the
// password (the Secret the spec names).
import { LABEL_ORDINAL, selectorFor } from '../api/labels.js';
import { errorMessage, type Kube } from './client.js';

export interface PasswordSecretRef {
  name: string;
  key: string;
}

export class PasswordSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PasswordSecretError';
  }
}

/** The password of a cluster's nodes, or undefined when the spec names no Secret. */
export async function readPassword(kube: Kube, namespace: string, ref: PasswordSecretRef | undefined): Promise<string | undefined> {
  if (!ref) return undefined;
  let secret;
  try {
    secret = await kube.core.readNamespacedSecret({ name: ref.name, namespace });
  } catch (err) {
    throw new PasswordSecretError(`cannot read Secret ${ref.name} (spec.passwordSecret.name): ${errorMessage(err)}`);
  }
  const encoded = secret.data?.[ref.key];
  const value = encoded !== undefined ? Buffer.from(encoded, 'base64').toString('utf8') : secret.stringData?.[ref.key];
  if (value === undefined) throw new PasswordSecretError(`Secret ${ref.name} has no key ${ref.key} (spec.passwordSecret.key)`);
  return value;
}

export interface PodEndpoint {
  pod: string;
  ordinal: number;
  ip: string;
  port: number;
}

/** Node i listens on basePort + i at its Pod's IP; Pods without an IP or being deleted are left out. */
export async function podEndpoints(kube: Kube, namespace: string, clusterName: string, basePort: number): Promise<PodEndpoint[]> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selectorFor(clusterName) });
  const out: PodEndpoint[] = [];
  for (const pod of pods.items) {
    const ip = pod.status?.podIP;
    const ordinal = Number(pod.metadata?.labels?.[LABEL_ORDINAL]);
    if (!ip || !Number.isInteger(ordinal) || ordinal < 0 || pod.metadata?.deletionTimestamp) continue;
    out.push({ pod: pod.metadata?.name ?? '', ordinal, ip, port: basePort + ordinal });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}
