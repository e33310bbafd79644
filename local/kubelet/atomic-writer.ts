// The kubelet's AtomicWriter, which ConfigMap and Secret volumes use: the payload is written into
// a fresh timestamped directory (`..2026_01_01_12_00_00.123456789`), the `..data` symlink is
// pointed at it by renaming a new symlink over it (atomic), and each top-level entry the user sees
// is a symlink through it (`tls.crt -> ..data/tls.crt`). A reader opening a file therefore sees
// either the old payload or the new one, never a mix; the old directory is removed afterwards.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface PayloadFile {
  content: Buffer;
  mode: number;
}

const DATA = '..data';
const DATA_TMP = '..data_tmp';

function timestampDirName(now: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const nanos = p(now.getUTCMilliseconds(), 3) + p(Math.floor(Math.random() * 1e6), 6);
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.${nanos}`;
}

/** True when the directory `..data` points at holds exactly this payload. */
async function unchanged(dir: string, payload: Map<string, PayloadFile>): Promise<boolean> {
  const current = await fs.readlink(path.join(dir, DATA)).catch(() => undefined);
  if (!current) return false;
  for (const [rel, file] of payload) {
    const existing = await fs.readFile(path.join(dir, current, rel)).catch(() => undefined);
    if (!existing?.equals(file.content)) return false;
  }
  const listed = await listFiles(path.join(dir, current));
  return listed.length === payload.size;
}

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, rel), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const child = path.join(rel, e.name);
    out.push(...(e.isDirectory() ? await listFiles(root, child) : [child]));
  }
  return out;
}

/** Writes `payload` (paths relative to `dir`) into `dir` atomically; does nothing when it is unchanged. */
export async function writeAtomically(dir: string, payload: Map<string, PayloadFile>, now = new Date()): Promise<void> {
  if (await unchanged(dir, payload)) return;
  await fs.mkdir(dir, { recursive: true });
  const oldTarget = await fs.readlink(path.join(dir, DATA)).catch(() => undefined);
  const fresh = timestampDirName(now);
  for (const [rel, file] of payload) {
    const target = path.join(dir, fresh, rel);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.writeFile(target, file.content, { mode: file.mode });
  }
  await fs.rm(path.join(dir, DATA_TMP), { force: true });
  await fs.symlink(fresh, path.join(dir, DATA_TMP));
  await fs.rename(path.join(dir, DATA_TMP), path.join(dir, DATA));
  const visible = new Set([...payload.keys()].map((rel) => rel.split('/')[0]!));
  for (const name of visible) {
    const link = path.join(dir, name);
    const existing = await fs.readlink(link).catch(() => undefined);
    if (existing === path.join(DATA, name)) continue;
    await fs.rm(link, { recursive: true, force: true });
    await fs.symlink(path.join(DATA, name), link);
  }
  // Entries of the old payload that the new one lacks, then the old payload itself.
  for (const name of await fs.readdir(dir)) {
    if (!name.startsWith('..') && !visible.has(name)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
  if (oldTarget && oldTarget !== fresh) await fs.rm(path.join(dir, oldTarget), { recursive: true, force: true });
}
