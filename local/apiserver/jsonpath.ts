// The JSONPath subset CRDs use in printer columns and scale paths: `.a.b`, `.a[0]`, `.a[*].b`,
// `.a[?(@.type=="Ready")].status`, optionally wrapped in `{...}`.
import { badRequest } from './errors.js';

type Step = { field: string } | { index: number } | { all: true } | { filter: { path: string[]; value: string } };

export function parseJsonPath(expr: string): Step[] {
  let s = expr.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  if (s.startsWith('$')) s = s.slice(1);
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === '.') {
      i++;
      const m = /^[A-Za-z0-9_\-/]+/.exec(s.slice(i));
      if (!m) throw badRequest(`invalid JSONPath ${JSON.stringify(expr)} at ${i}`);
      steps.push({ field: m[0] });
      i += m[0].length;
    } else if (s[i] === '[') {
      const end = s.indexOf(']', i);
      if (end < 0) throw badRequest(`invalid JSONPath ${JSON.stringify(expr)}: unclosed [`);
      const inner = s.slice(i + 1, end).trim();
      i = end + 1;
      if (inner === '*') steps.push({ all: true });
      else if (/^\d+$/.test(inner)) steps.push({ index: Number(inner) });
      else if (/^'.*'$|^".*"$/.test(inner)) steps.push({ field: inner.slice(1, -1) });
      else {
        const f = /^\?\(@\.([A-Za-z0-9_.]+)\s*==\s*["']([^"']*)["']\)$/.exec(inner);
        if (!f) throw badRequest(`unsupported JSONPath ${JSON.stringify(expr)}`);
        steps.push({ filter: { path: f[1]!.split('.'), value: f[2]! } });
      }
    } else {
      throw badRequest(`invalid JSONPath ${JSON.stringify(expr)} at ${i}`);
    }
  }
  return steps;
}

function dig(v: unknown, path: string[]): unknown {
  let cur = v;
  for (const p of path) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

/** All values the path selects (none when a step finds nothing). */
export function evalJsonPath(obj: unknown, expr: string): unknown[] {
  let current: unknown[] = [obj];
  for (const step of parseJsonPath(expr)) {
    const next: unknown[] = [];
    for (const v of current) {
      if ('field' in step) {
        if (v && typeof v === 'object' && !Array.isArray(v) && step.field in v) next.push((v as Record<string, unknown>)[step.field]);
      } else if ('index' in step) {
        if (Array.isArray(v) && step.index < v.length) next.push(v[step.index]);
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (v && typeof v === 'object') next.push(...Object.values(v));
      } else if (Array.isArray(v)) {
        for (const item of v) if (String(dig(item, step.filter.path)) === step.filter.value) next.push(item);
      }
    }
    current = next;
  }
  return current;
}

/** Sets a simple dotted path (`.spec.replicas`), creating objects on the way. */
export function setJsonPath(obj: Record<string, unknown>, expr: string, value: unknown): void {
  const steps = parseJsonPath(expr);
  let cur: Record<string, unknown> = obj;
  steps.forEach((step, n) => {
    if (!('field' in step)) throw badRequest(`cannot write through JSONPath ${JSON.stringify(expr)}`);
    if (n === steps.length - 1) cur[step.field] = value;
    else {
      const child = cur[step.field];
      if (!child || typeof child !== 'object' || Array.isArray(child)) cur[step.field] = {};
      cur = cur[step.field] as Record<string, unknown>;
    }
  });
}
