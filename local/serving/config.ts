// What a Knative Service asks of serving, read from its spec: which function the image runs, the
// scaling annotations, the concurrency and timeout. Pure apart
// from checking that the function's entry file exists.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from '../apiserver/client.js';

const MIN_SCALE = 'autoscaling.knative.dev/min-scale';
const WINDOW = 'autoscaling.knative.dev/window';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}

export interface ServiceSettings {
  image: string;
  /** The function folder name the image maps to. */
  functionName: string;
  env: EnvVar[];
  containerConcurrency: number;
  timeoutSeconds: number;
  minScale: number;
  windowMs: number;
  /** Path used to tell that a starting process answers. */
  readinessPath: string;
  revision: string;
}

/** Go-style duration (`6s`, `1m30s`, `1h`, `500ms`) in milliseconds. */
export function parseGoDuration(text: string, field: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
    consumed += m[0].length;
  }
  if (!text || consumed !== text.length) throw new Error(`${field}: ${JSON.stringify(text)} is not a duration such as 60s or 1m`);
  return total;
}

/**
 * The function an image runs: its last path segment without tag or digest, with a leading
 * `redis-operator-` removed; e.g. `ghcr.io/redis-operator/reconcile:0.1.0` and
 * `example.com/redis-operator-reconcile@sha256:...` both run `functions/reconcile`.
 */
export function functionNameFromImage(image: string): string {
  const noDigest = image.split('@')[0]!;
  const last = noDigest.split('/').pop()!;
  const noTag = last.split(':')[0]!;
  return noTag.replace(/^redis-operator-/, '');
}

/** The entry file `<root>/<fn>/index.ts` of the first root that has one. */
export function entryFor(functionName: string, roots: string[]): string | undefined {
  for (const root of roots) {
    const p = join(root, functionName, 'index.ts');
    if (existsSync(p)) return p;
  }
  return undefined;
}

function int(value: unknown, field: string, min: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min)
    throw new Error(`${field}: must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

export function serviceSettings(svc: KubeObject): ServiceSettings {
  const template = svc.spec?.template ?? {};
  const annotations: Record<string, string> = template.metadata?.annotations ?? {};
  const container = template.spec?.containers?.[0];
  if (!container) throw new Error('spec.template.spec.containers: one container is required');
  if (!container.image) throw new Error('spec.template.spec.containers[0].image: is required');
  const probePath = container.readinessProbe?.httpGet?.path as string | undefined;
  const generation = svc.metadata?.generation ?? 1;
  return {
    image: container.image,
    functionName: functionNameFromImage(container.image),
    env: (container.env ?? []) as EnvVar[],
    containerConcurrency: int(template.spec?.containerConcurrency ?? 0, 'spec.template.spec.containerConcurrency', 0),
    timeoutSeconds: int(template.spec?.timeoutSeconds ?? 300, 'spec.template.spec.timeoutSeconds', 1),
    minScale: int(
      annotations[MIN_SCALE] ?? annotations['autoscaling.knative.dev/minScale'] ?? 0,
      `spec.template.metadata.annotations["${MIN_SCALE}"]`,
      0,
    ),
    windowMs: parseGoDuration(annotations[WINDOW] ?? '60s', `spec.template.metadata.annotations["${WINDOW}"]`),
    readinessPath: probePath ?? '/healthz',
    revision: `${template.metadata?.name ?? `${svc.metadata?.name}-${String(generation).padStart(5, '0')}`}`,
  };
}
