// Label and field selectors: the query-string forms (`a=b,c in (x,y),!d`) and the structured
// LabelSelector / NodeSelectorTerm forms used in specs. The one matcher of the embedded platform:
// the API server, the scheduler and eventing all select through it.
import { badRequest } from './errors.js';

export type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | 'notexists' };

export type Labels = Record<string, string> | undefined;

/** Parses a label selector string; throws 400 naming the selector on bad syntax. */
export function parseLabelSelector(text: string | undefined | null): Requirement[] {
  const out: Requirement[] = [];
  if (!text || !text.trim()) return out;
  for (const part of splitTopLevel(text)) {
    const p = part.trim();
    if (!p) continue;
    let m: RegExpMatchArray | null;
    if ((m = p.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      out.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values });
    } else if ((m = p.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      out.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
    } else if ((m = p.match(/^!\s*([^\s!=(),]+)$/))) {
      out.push({ key: m[1]!, op: 'notexists' });
    } else if ((m = p.match(/^([^\s!=(),]+)$/))) {
      out.push({ key: m[1]!, op: 'exists' });
    } else {
      throw badRequest(`unable to parse requirement: invalid label selector "${text}": "${p}"`);
    }
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

export function matchesRequirements(labels: Labels, reqs: Requirement[]): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        return !has || !r.values.includes(l[r.key]!);
    }
  });
}

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

/** A structured selector (metav1.LabelSelector): every matchLabels and matchExpressions entry holds. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/**
 * What an absent structured selector means, which Kubernetes decides per field: a
 * PodDisruptionBudget or affinity term without one selects nothing, an ApiServerSource resource
 * without one receives every object of its kind. An empty selector (`{}`) always selects everything.
 */
export type AbsentSelector = 'nothing' | 'everything';

const OPERATORS: Record<string, 'in' | 'notin' | 'exists' | 'notexists'> = {
  In: 'in',
  NotIn: 'notin',
  Exists: 'exists',
  DoesNotExist: 'notexists',
};

/** The selector as requirements; throws on an operator Kubernetes does not have. */
export function labelSelectorRequirements(selector: LabelSelector): Requirement[] {
  const out: Requirement[] = Object.entries(selector.matchLabels ?? {}).map(([key, v]) => ({ key, op: 'in', values: [v] }));
  for (const e of selector.matchExpressions ?? []) {
    const op = OPERATORS[e.operator];
    if (!op) throw new Error(`selector.matchExpressions[].operator: unknown operator ${JSON.stringify(e.operator)}`);
    out.push(op === 'exists' || op === 'notexists' ? { key: e.key, op } : { key: e.key, op, values: e.values ?? [] });
  }
  return out;
}

/** Whether labels satisfy a structured selector; one with an unknown operator selects nothing. */
export function matchesLabelSelector(labels: Labels, selector: LabelSelector | null | undefined, whenAbsent: AbsentSelector): boolean {
  if (!selector) return whenAbsent === 'everything';
  let reqs: Requirement[];
  try {
    reqs = labelSelectorRequirements(selector);
  } catch {
    return false;
  }
  return matchesRequirements(labels, reqs);
}

function requirementString(r: Requirement): string {
  if ('values' in r) return `${r.key} ${r.op} (${r.values.join(',')})`;
  return r.op === 'exists' ? r.key : `!${r.key}`;
}

/** The `?labelSelector=` form of a structured selector; throws on an unknown operator. */
export function labelSelectorString(selector: LabelSelector | undefined): string {
  if (!selector) return '';
  const labels = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const expressions = labelSelectorRequirements({ matchExpressions: selector.matchExpressions }).map(requirementString);
  return [...labels, ...expressions].join(',');
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

function matchesNodeRequirement(value: string | undefined, r: NodeSelectorRequirement): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
      return value !== undefined && Number(value) > Number(values[0]);
    case 'Lt':
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      return false;
  }
}

/** One NodeSelectorTerm: all its requirements hold (an empty term matches nothing). */
export function matchesNodeSelectorTerm(node: { name: string; labels: Labels }, term: NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.labels ?? {};
  return (
    exprs.every((r) => matchesNodeRequirement(labels[r.key], r)) &&
    fields.every((r) => matchesNodeRequirement(r.key === 'metadata.name' ? node.name : undefined, r))
  );
}

export interface FieldRequirement {
  path: string;
  op: '=' | '!=';
  value: string;
}

/** Parses `metadata.name=x,status.phase!=Running`; any dotted field of the object may be used. */
export function parseFieldSelector(text: string | undefined | null): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (!text || !text.trim()) return out;
  for (const part of text.split(',')) {
    const m = part.trim().match(/^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector "${text}": "${part}"`);
    out.push({ path: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() });
  }
  return out;
}

export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export function matchesFields(obj: unknown, reqs: FieldRequirement[]): boolean {
  return reqs.every((r) => (fieldValue(obj, r.path) === r.value) === (r.op === '='));
}
