// What every function needs to reach a cluster's Redis nodes: their addresses (the Pods) and the
// password (the Secret the spec names).
import { podTls, type PortLayout } from '../tls/layout.js';
import { LABEL_ORDINAL, selectorFor } from '../api/labels.js';
import { isNotFound, type Kube } from './client.js';
import { errorMessage } from '../errors.js';

export interface PasswordSecretRef {
  name: string;
  key: string;
}

/**
 * Why the password cannot be had: the Secret is absent (`NotFound`), lacks the key (`KeyMissing`),
 * both fixed only by a person, or could not be read now (`Unreadable`), which a retry may cure.
 */
export type PasswordSecretProblem = 'NotFound' | 'KeyMissing' | 'Unreadable';

export class PasswordSecretError extends Error {
  constructor(
    message: string,
    readonly problem: PasswordSecretProblem = 'Unreadable',
  ) {
    super(message);
    this.name = 'PasswordSecretError';
  }
}

/**
 * The password of a cluster's nodes, or undefined when the spec names no Secret. `field` is where
 * the spec names it, for the messages (an ACL user's Secret is read the same way).
 */
export async function readPassword(
  kube: Kube,
  namespace: string,
  ref: PasswordSecretRef | undefined,
  field = 'spec.passwordSecret',
): Promise<string | undefined> {
  if (!ref) return undefined;
  let secret;
  try {
    secret = await kube.core.readNamespacedSecret({ name: ref.name, namespace });
  } catch (err) {
    if (isNotFound(err))
      throw new PasswordSecretError(`Secret ${ref.name} (${field}.name) not found in namespace ${namespace}`, 'NotFound');
    throw new PasswordSecretError(`cannot read Secret ${ref.name} (${field}.name): ${errorMessage(err)}`, 'Unreadable');
  }
  const encoded = secret.data?.[ref.key];
  const value = encoded !== undefined ? Buffer.from(encoded, 'base64').toString('utf8') : secret.stringData?.[ref.key];
  if (value === undefined) throw new PasswordSecretError(`Secret ${ref.name} has no key ${ref.key} (${field}.key)`, 'KeyMissing');
  return value;
}

/** The ordinal of a Pod named `<cluster>-<i>`, or undefined when the name is not of that form. */
export function ordinalOf(cluster: string, pod: string): number | undefined {
  if (!pod.startsWith(`${cluster}-`)) return undefined;
  const rest = pod.slice(cluster.length + 1);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/** `<cluster>-<digits>` -> `<cluster>`: a Pod reference carries nothing else to find its cluster by. */
export function clusterNameOfPod(pod: string): string | undefined {
  const m = /^(.+)-(0|[1-9][0-9]*)$/.exec(pod);
  return m?.[1];
}

export interface PodEndpoint {
  pod: string;
  ordinal: number;
  ip: string;
  port: number;
  /** What its ports speak (docs/security.md); `tls` or `plain` outside a TLS transition. */
  layout: PortLayout;
  /** The TLS Secret its Pod mounts. */
  tlsSecret?: string;
  /** Its Pod is being deleted (listed only when asked for): its node may still run, not to be asked. */
  terminating?: boolean;
}

/**
 * Node i listens on basePort + i at its Pod's IP; the ordinal comes from the Pod's label, else its
 * name. Pods without an IP are left out, and so are Pods being deleted unless `terminating`.
 */
export async function podEndpoints(
  kube: Kube,
  namespace: string,
  clusterName: string,
  basePort: number,
  opts: { terminating?: boolean } = {},
): Promise<PodEndpoint[]> {
  const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selectorFor(clusterName) });
  const out: PodEndpoint[] = [];
  for (const pod of pods.items) {
    const ip = pod.status?.podIP;
    const name = pod.metadata?.name ?? '';
    const label = pod.metadata?.labels?.[LABEL_ORDINAL];
    const ordinal = label !== undefined && /^\d+$/.test(label) ? Number(label) : ordinalOf(clusterName, name);
    const terminating = Boolean(pod.metadata?.deletionTimestamp);
    if (!ip || ordinal === undefined || (terminating && !opts.terminating)) continue;
    const tls = podTls(pod);
    out.push({
      pod: name,
      ordinal,
      ip,
      port: basePort + ordinal,
      layout: tls.layout,
      ...(tls.secretName ? { tlsSecret: tls.secretName } : {}),
      ...(terminating ? { terminating } : {}),
    });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}
