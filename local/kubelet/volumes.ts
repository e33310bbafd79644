// Volumes as real directories. Where each volume lives:
//   emptyDir, configMap, secret, downwardAPI, projected: <dataDir>/pods/<ns>_<pod>_<uid>/volumes/<type>/<volume>
//   persistentVolumeClaim: <dataDir>/pvc/<namespace>/<claimName> (outlives the Pod; belongs to one
//     claim object: a claim deleted and created again under the same name starts empty, as with
//     the Delete reclaim policy)
//   hostPath: the path itself.
// ConfigMap and Secret volumes are written as a real kubelet writes them (atomic-writer.ts), so a
// change reaches a running Pod as one symlink swap.
// ConfigMap text is written with the Pod's mount paths rewritten to these directories (the same
// rule as for args, see command.ts rewritePaths), so a redis.conf saying `dir /data` works.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import { writeAtomically, type PayloadFile } from './atomic-writer.js';
import { fieldRefValue, rewritePaths, type PathMapping, type PodFacts } from './command.js';

export interface ConfigMapData {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}
export interface SecretData {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface VolumeSource {
  configMap(namespace: string, name: string): Promise<ConfigMapData | undefined>;
  secret(namespace: string, name: string): Promise<SecretData | undefined>;
  /** Makes sure the claim exists and is Bound (the local provisioner); its uid when known. */
  bindClaim(namespace: string, claimName: string): Promise<string | undefined>;
  /** Reports a claim grown since it was bound at its new size. */
  expandClaim(namespace: string, claimName: string): Promise<void>;
  /** A token of the Pod's ServiceAccount bound to the Pod (TokenRequest), for a projected serviceAccountToken. */
  serviceAccountToken(pod: V1Pod, expirationSeconds: number, audience?: string): Promise<string>;
}

export class VolumeError extends Error {}

export function podDirName(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? 'default'}_${pod.metadata?.name ?? ''}_${pod.metadata?.uid ?? ''}`;
}

/** The host directory of each volume of the Pod; pure. */
export function volumeDirs(pod: V1Pod, podDir: string, pvcRoot: string): Map<string, string> {
  const dirs = new Map<string, string>();
  const namespace = pod.metadata?.namespace ?? 'default';
  for (const v of pod.spec?.volumes ?? []) {
    const local = (type: string): string => path.join(podDir, 'volumes', type, v.name);
    if (v.emptyDir) dirs.set(v.name, local('empty-dir'));
    else if (v.configMap) dirs.set(v.name, local('configmap'));
    else if (v.secret) dirs.set(v.name, local('secret'));
    else if (v.downwardAPI) dirs.set(v.name, local('downward-api'));
    else if (v.projected) dirs.set(v.name, local('projected'));
    else if (v.persistentVolumeClaim) dirs.set(v.name, path.join(pvcRoot, namespace, v.persistentVolumeClaim.claimName));
    else if (v.hostPath) dirs.set(v.name, v.hostPath.path);
  }
  return dirs;
}

async function writeIfChanged(file: string, content: Buffer, mode: number): Promise<void> {
  try {
    const current = await fs.readFile(file);
    if (current.equals(content)) return;
  } catch {
    // absent: write it
  }
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content, { mode });
  await fs.rename(tmp, file);
}

interface KeyItems {
  items?: { key: string; path: string; mode?: number }[];
  defaultMode?: number;
}

/** The volume's files as its items (or every key) ask. */
function keyPayload(entries: Map<string, Buffer>, spec: KeyItems, what: string): Map<string, PayloadFile> {
  const items = spec.items ?? [...entries.keys()].map((key) => ({ key, path: key, mode: undefined }));
  const payload = new Map<string, PayloadFile>();
  for (const item of items) {
    const content = entries.get(item.key);
    if (!content) throw new VolumeError(`${what}: key "${item.key}" not found`);
    if (item.path.split('/').includes('..')) throw new VolumeError(`${what}: item path "${item.path}" must not contain ".."`);
    payload.set(item.path, { content, mode: item.mode ?? spec.defaultMode ?? 0o644 });
  }
  return payload;
}

/** A projected volume's sources share its directory, so each writes its own files in place. */
async function writeInPlace(dir: string, payload: Map<string, PayloadFile>): Promise<void> {
  for (const [rel, file] of payload) await writeIfChanged(path.join(dir, rel), file.content, file.mode);
}

function configMapEntries(cm: ConfigMapData, mappings: readonly PathMapping[]): Map<string, Buffer> {
  const entries = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) entries.set(k, Buffer.from(rewritePaths(v, mappings)));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) entries.set(k, Buffer.from(v, 'base64'));
  return entries;
}

function secretEntries(secret: SecretData): Map<string, Buffer> {
  const entries = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(secret.stringData ?? {})) entries.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries(secret.data ?? {})) entries.set(k, Buffer.from(v, 'base64'));
  return entries;
}

async function writeVolume(
  pod: V1Pod,
  v: V1Volume,
  dir: string,
  source: VolumeSource,
  facts: PodFacts,
  mappings: readonly PathMapping[],
  firstTime: boolean,
): Promise<void> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const failed = (msg: string): VolumeError => new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : ${msg}`);
  if (v.configMap) {
    const cm = await source.configMap(namespace, v.configMap.name ?? '');
    if (!cm) {
      if (v.configMap.optional) return;
      throw failed(`configmap "${v.configMap.name}" not found`);
    }
    await writeAtomically(dir, keyPayload(configMapEntries(cm, mappings), v.configMap, `volume ${v.name}`));
  } else if (v.secret) {
    const secret = await source.secret(namespace, v.secret.secretName ?? '');
    if (!secret) {
      if (v.secret.optional) return;
      throw failed(`secret "${v.secret.secretName}" not found`);
    }
    await writeAtomically(dir, keyPayload(secretEntries(secret), v.secret, `volume ${v.name}`));
  } else if (v.downwardAPI) {
    for (const item of v.downwardAPI.items ?? []) {
      const value = item.fieldRef ? fieldRefValue(pod, facts, item.fieldRef.fieldPath) : '';
      await writeIfChanged(path.join(dir, item.path), Buffer.from(value), item.mode ?? v.downwardAPI.defaultMode ?? 0o644);
    }
  } else if (v.projected) {
    for (const src of v.projected.sources ?? []) {
      if (src.configMap) {
        const cm = await source.configMap(namespace, src.configMap.name ?? '');
        if (cm) await writeInPlace(dir, keyPayload(configMapEntries(cm, mappings), src.configMap, `volume ${v.name}`));
        else if (!src.configMap.optional) throw failed(`configmap "${src.configMap.name}" not found`);
      } else if (src.secret) {
        const secret = await source.secret(namespace, src.secret.name ?? '');
        if (secret) await writeInPlace(dir, keyPayload(secretEntries(secret), src.secret, `volume ${v.name}`));
        else if (!src.secret.optional) throw failed(`secret "${src.secret.name}" not found`);
      } else if (src.downwardAPI) {
        for (const item of src.downwardAPI.items ?? []) {
          const value = item.fieldRef ? fieldRefValue(pod, facts, item.fieldRef.fieldPath) : '';
          await writeIfChanged(path.join(dir, item.path), Buffer.from(value), item.mode ?? 0o644);
        }
      } else if (src.serviceAccountToken) {
        const file = path.join(dir, src.serviceAccountToken.path);
        // Issued once per Pod: a Pod-bound token of the kubelet's lifetime is valid for a year.
        if (firstTime || !existsSync(file)) {
          const { expirationSeconds, audience } = src.serviceAccountToken;
          const token = await source.serviceAccountToken(pod, expirationSeconds ?? 3607, audience).catch((err: unknown) => {
            throw failed(`failed to fetch token: ${err instanceof Error ? err.message : String(err)}`);
          });
          await writeIfChanged(file, Buffer.from(token), 0o600);
        }
      }
    }
  }
}

/**
 * Creates every volume's directory and writes the projected contents; also used to re-sync
 * ConfigMap and Secret contents while the Pod runs (files are rewritten only when they change).
 */
export async function materialiseVolumes(
  pod: V1Pod,
  dirs: Map<string, string>,
  source: VolumeSource,
  facts: PodFacts,
  mappings: readonly PathMapping[],
  firstTime: boolean,
): Promise<void> {
  for (const v of pod.spec?.volumes ?? []) {
    const dir = dirs.get(v.name);
    if (!dir)
      throw new VolumeError(
        `volume "${v.name}": unsupported volume type (supported: emptyDir, configMap, secret, downwardAPI, projected, persistentVolumeClaim, hostPath)`,
      );
    if (v.persistentVolumeClaim && firstTime) {
      const uid = await source.bindClaim(pod.metadata?.namespace ?? 'default', v.persistentVolumeClaim.claimName);
      await claimDirFor(dir, uid);
    } else if (v.persistentVolumeClaim) {
      await source.expandClaim(pod.metadata?.namespace ?? 'default', v.persistentVolumeClaim.claimName);
    }
    await fs.mkdir(dir, { recursive: true });
    await writeVolume(pod, v, dir, source, facts, mappings, firstTime);
  }
}

/** A claim directory holds the data of one claim object (by uid), recorded beside it. */
async function claimDirFor(dir: string, uid: string | undefined): Promise<void> {
  if (!uid) return;
  const marker = path.join(path.dirname(dir), `.${path.basename(dir)}.uid`);
  const recorded = await fs.readFile(marker, 'utf8').catch(() => undefined);
  if (recorded !== undefined && recorded !== uid) await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(path.dirname(dir), { recursive: true });
  if (recorded !== uid) await fs.writeFile(marker, uid);
}

/** Volumes that follow API objects (a claim: its size) and so need re-syncing. */
export const hasSyncedVolumes = (pod: V1Pod): boolean =>
  (pod.spec?.volumes ?? []).some((v) => v.configMap || v.secret || v.projected || v.persistentVolumeClaim);
