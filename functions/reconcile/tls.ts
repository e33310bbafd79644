// Live certificate rotation: when the TLS Secret changes, the kubelet swaps the mounted files and
// each node must be told to re-read them (CONFIG SET of the same paths reloads them, Redis 7.0
// too; open connections are kept). Each Pod carries the hash of the Secret its node last loaded,
// so a change is applied once per node, and a node whose files the kubelet has not swapped yet is
// tried again on a later pass (act checks the certificate the node then serves). Pure.
import type { TlsVerdict } from '../../shared/tls/certificate.js';
import type { PodInfo } from './observe.js';

/** Where the Pod mounts the TLS Secret (the kubelet's Secret volume: one symlink per key). */
export const TLS_MOUNT = '/etc/redis-tls';
export const TLS_FILES = {
  cert: `${TLS_MOUNT}/tls.crt`,
  key: `${TLS_MOUNT}/tls.key`,
  ca: `${TLS_MOUNT}/ca.crt`,
} as const;

/** The settings a node reloads its certificate by: set again to the paths it already has. */
export const TLS_FILE_SETTINGS = ['tls-cert-file', 'tls-key-file', 'tls-ca-cert-file'] as const;

/**
 * redis.conf's TLS lines: the certificate files where the Secret is mounted, and the bus the
 * cluster runs. Clients (the operator, the exporter, applications) check the node's certificate
 * against the CA; they are not asked for one of their own.
 */
export function tlsConf(tls: { files: boolean; bus: boolean }): string[] {
  return [
    ...(tls.files ? [`tls-cert-file ${TLS_FILES.cert}`, `tls-key-file ${TLS_FILES.key}`, `tls-ca-cert-file ${TLS_FILES.ca}`] : []),
    ...(tls.bus ? ['tls-cluster yes', 'tls-replication yes'] : []),
    ...(tls.files ? ['tls-auth-clients no'] : []),
  ];
}

export interface TlsReload {
  /** The Pods whose node must reload, by name. */
  pods: string[];
  /** The Secret's hash, written on each Pod once its node serves the new certificate. */
  hash: string;
  /** The certificate the nodes must serve after the reload. */
  fingerprint: string;
  /** The CA it is checked against. */
  ca: string;
}

/**
 * The nodes to reload: ready Pods whose recorded hash is not the Secret's. A Secret that fails its
 * checks reloads nothing, so the nodes keep serving the certificate they have.
 */
export function planTlsReload(
  verdict: TlsVerdict | undefined,
  pods: readonly Pick<PodInfo, 'name' | 'ready' | 'deleting' | 'tlsHash'>[],
): TlsReload | undefined {
  if (!verdict?.ok) return undefined;
  const stale = pods.filter((p) => p.ready && !p.deleting && p.tlsHash !== verdict.hash).map((p) => p.name);
  if (stale.length === 0) return undefined;
  return { pods: stale, hash: verdict.hash, fingerprint: verdict.fingerprint, ca: verdict.ca };
}
