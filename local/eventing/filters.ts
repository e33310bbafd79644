// Trigger filtering as Knative does it: `filter.attributes` (exact match, "" = any value but the
// attribute must be present) or the newer `filters[]` dialects, which win when both are set.
// CESQL is not supported here: a Trigger using it is reported as not Ready.

/** A CloudEvent's context attributes and extensions, all as strings. */
export type EventAttributes = Record<string, string>;

export interface SubscriptionsApiFilter {
  exact?: Record<string, string>;
  prefix?: Record<string, string>;
  suffix?: Record<string, string>;
  all?: SubscriptionsApiFilter[];
  any?: SubscriptionsApiFilter[];
  not?: SubscriptionsApiFilter;
  cesql?: string;
}

export interface TriggerFilterSpec {
  filter?: { attributes?: Record<string, string> };
  filters?: SubscriptionsApiFilter[];
}

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const;

/** Throws a clear error naming the field when a Trigger's filters cannot be evaluated. */
export function validateTriggerFilters(spec: TriggerFilterSpec): void {
  const walk = (f: SubscriptionsApiFilter, path: string): void => {
    if (f === null || typeof f !== 'object') throw new Error(`${path}: must be an object`);
    const keys = Object.keys(f).filter((k) => (DIALECTS as readonly string[]).includes(k));
    const unknown = Object.keys(f).filter((k) => !(DIALECTS as readonly string[]).includes(k));
    if (unknown.length) throw new Error(`${path}: unknown filter dialect ${JSON.stringify(unknown[0])}`);
    if (keys.length !== 1) throw new Error(`${path}: exactly one of ${DIALECTS.join(', ')} must be set`);
    const k = keys[0]!;
    if (k === 'cesql') throw new Error(`${path}.cesql: CESQL filters are not supported by the local platform`);
    if (k === 'exact' || k === 'prefix' || k === 'suffix') {
      const m = f[k]!;
      // Knative's webhook requires exactly one attribute per exact/prefix/suffix filter.
      if (typeof m !== 'object' || Object.keys(m).length !== 1) throw new Error(`${path}.${k}: must name exactly one attribute`);
      for (const [a, v] of Object.entries(m)) {
        if (typeof v !== 'string' || v === '') throw new Error(`${path}.${k}.${a}: must be a non-empty string`);
      }
    }
    if (k === 'all' || k === 'any') {
      if (!Array.isArray(f[k])) throw new Error(`${path}.${k}: must be a list`);
      f[k]!.forEach((g, i) => walk(g, `${path}.${k}[${i}]`));
    }
    if (k === 'not') walk(f.not!, `${path}.not`);
  };
  if (spec.filters !== undefined) {
    if (!Array.isArray(spec.filters)) throw new Error('spec.filters: must be a list');
    spec.filters.forEach((f, i) => walk(f, `spec.filters[${i}]`));
  }
  const attrs = spec.filter?.attributes;
  if (attrs !== undefined) {
    for (const [a, v] of Object.entries(attrs)) {
      if (typeof v !== 'string') throw new Error(`spec.filter.attributes.${a}: must be a string`);
    }
  }
}

function matchesDialect(f: SubscriptionsApiFilter, ev: EventAttributes): boolean {
  if (f.exact) return Object.entries(f.exact).every(([k, v]) => ev[k] !== undefined && ev[k] === v);
  if (f.prefix) return Object.entries(f.prefix).every(([k, v]) => ev[k] !== undefined && ev[k]!.startsWith(v));
  if (f.suffix) return Object.entries(f.suffix).every(([k, v]) => ev[k] !== undefined && ev[k]!.endsWith(v));
  if (f.all) return f.all.every((g) => matchesDialect(g, ev));
  if (f.any) return f.any.some((g) => matchesDialect(g, ev));
  if (f.not) return !matchesDialect(f.not, ev);
  return false;
}

/** Whether an event passes a Trigger's filters (no filter at all passes everything). */
export function triggerMatches(spec: TriggerFilterSpec, ev: EventAttributes): boolean {
  if (spec.filters && spec.filters.length > 0) return spec.filters.every((f) => matchesDialect(f, ev));
  const attrs = spec.filter?.attributes ?? {};
  for (const [k, v] of Object.entries(attrs)) {
    if (ev[k] === undefined) return false;
    if (v !== '' && ev[k] !== v) return false;
  }
  return true;
}
