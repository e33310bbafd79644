// The RedisCluster spec: one schema gives the types, the defaults, the validation and the CRD.
import { z } from 'zod';
import { BUS_PORT_OFFSET, DEFAULT_ALERT_ACTIONS, EXPORTER_PORT_OFFSET, alertAction, specFields } from './fields.js';
import { SPEC_RULES, celValidations, type SpecFields } from './rules.js';

export const specSchema = specFields
  .superRefine(
    (spec, ctx) => {
      for (const rule of SPEC_RULES) {
        if (rule.holds(spec)) continue;
        const detail = rule.detail?.(spec);
        ctx.addIssue({
          code: 'custom',
          path: rule.field.split('.'),
          message: detail ? `${rule.message}; ${detail}` : rule.message,
        });
      }
      // The rules read fields as their types promise, so they wait until every field is valid.
    },
    { when: (payload) => payload.issues.length === 0 },
  )
  .meta({ 'x-kubernetes-validations': celValidations() })
  .describe('The desired Redis Cluster.');

/** A spec as written by a user: every defaulted field optional. */
export type RedisClusterSpec = z.input<typeof specSchema>;
export type AlertAction = z.output<typeof alertAction>;

/**
 * A spec with every default applied and the exporter's resources in one place
 * (`exporter.resources`, whichever of the two spellings the user chose).
 */
export type DefaultedSpec = Omit<SpecFields, 'exporterResources' | 'autoscaling'> & {
  autoscaling: Omit<SpecFields['autoscaling'], 'actions'> & { actions: Record<string, AlertAction> };
};

export interface FieldError {
  /** e.g. `spec.masters`, `spec.redisConfig.port`, `spec.tolerations[0].effect` */
  path: string;
  message: string;
}

export type ValidationResult = { ok: true; spec: DefaultedSpec } | { ok: false; errors: FieldError[] };

function normalize(spec: SpecFields): DefaultedSpec {
  const { exporterResources, ...rest } = spec;
  const resources = spec.exporter.resources ?? exporterResources;
  return {
    ...rest,
    exporter: { ...spec.exporter, ...(resources ? { resources } : {}) },
    autoscaling: { ...spec.autoscaling, actions: { ...DEFAULT_ALERT_ACTIONS, ...spec.autoscaling.actions } },
  };
}

/** Validates a spec and returns it fully defaulted, or every problem with the field it is on. */
export function validateSpec(obj: unknown, root = 'spec'): ValidationResult {
  const result = specSchema.safeParse(obj, { error: genericMessage });
  if (!result.success) return { ok: false, errors: result.error.issues.map((issue) => toFieldError(issue, root)) };
  return { ok: true, spec: normalize(result.data) };
}

/** The defaulted spec; throws an error listing every problem when the spec is invalid. */
export function applyDefaults(obj: unknown): DefaultedSpec {
  const result = validateSpec(obj);
  if (!result.ok) throw new SpecError(result.errors);
  return result.spec;
}

export class SpecError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(`invalid RedisCluster: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
    this.name = 'SpecError';
  }
}

/** `spec.a.b[0]["kubernetes.io/x"]` */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)) out += `${out ? '.' : ''}${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function toFieldError(issue: z.core.$ZodIssue, root: string): FieldError {
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    return {
      path: formatPath(root, keys.length === 1 ? [...issue.path, keys[0]!] : issue.path),
      message: keys.length === 1 ? 'is not a field of RedisCluster' : `unknown fields ${keys.join(', ')}`,
    };
  }
  return { path: formatPath(root, issue.path), message: issue.message };
}

const article = (type: string) => (/^[aeiou]/.test(type) ? 'an' : 'a');

/** Messages for the issues whose field gives none of its own. */
function genericMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${article(issue.expected)} ${issue.expected === 'int' ? 'whole number' : issue.expected}`;
    case 'too_small':
      if (issue.origin === 'string') return `must be at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return `must have at least ${issue.minimum} entries`;
      return `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `must have at most ${issue.maximum} entries`;
      return `must be at most ${issue.maximum}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'invalid_format':
      return issue.format === 'regex' ? `must match ${issue.pattern}` : `must be a valid ${issue.format}`;
    default:
      return undefined;
  }
}

// --- facts derived from a spec that every function needs ------------------------------------------

export function nodeCount(spec: Pick<DefaultedSpec, 'masters' | 'replicas'>): number {
  return spec.masters * (1 + spec.replicas);
}

export interface NodePorts {
  port: number;
  busPort: number;
  exporterPort: number;
}

/** The ports of node `ordinal`: basePort + ordinal, its bus + 10000, its exporter + 5000. */
export function nodePorts(spec: Pick<DefaultedSpec, 'basePort'>, ordinal: number): NodePorts {
  if (!Number.isInteger(ordinal) || ordinal < 0) throw new Error(`ordinal must be a whole number >= 0, got ${ordinal}`);
  const port = spec.basePort + ordinal;
  return { port, busPort: port + BUS_PORT_OFFSET, exporterPort: port + EXPORTER_PORT_OFFSET };
}

/** `image` with `tag` applied: the tag replaces any tag the image already carries. */
export function imageRef(image: string, tag?: string): string {
  if (!tag) return image;
  const lastSlash = image.lastIndexOf('/');
  const at = image.indexOf('@');
  const base = at >= 0 ? image.slice(0, at) : image;
  const colon = base.lastIndexOf(':');
  return `${colon > lastSlash ? base.slice(0, colon) : base}:${tag}`;
}

export const redisImage = (spec: Pick<DefaultedSpec, 'image' | 'tag'>): string => imageRef(spec.image, spec.tag);
export const exporterImage = (spec: Pick<DefaultedSpec, 'exporter'>): string => imageRef(spec.exporter.image, spec.exporter.tag);

export interface ScaleChange {
  target: 'masters' | 'replicas';
  /** Signed: +N adds, -N removes. */
  change: number;
}

/**
 * What an alert asks of this cluster: the configured action for `alertname` with its count, else
 * the alert's `scale_count` annotation, else 1. Undefined when the alert has no action.
 */
export function resolveAlertAction(
  spec: Pick<DefaultedSpec, 'autoscaling'>,
  alertname: string,
  scaleCount?: string | number,
): ScaleChange | undefined {
  const action = spec.autoscaling.actions[alertname];
  if (!action) return undefined;
  let count = action.count;
  if (count === undefined && scaleCount !== undefined && String(scaleCount).trim() !== '') {
    const parsed = Number(scaleCount);
    if (!Number.isInteger(parsed) || parsed < 1) {
      throw new Error(`annotation scale_count must be a whole number >= 1, got ${JSON.stringify(scaleCount)}`);
    }
    count = parsed;
  }
  count ??= 1;
  return { target: action.target, change: action.direction === 'add' ? count : -count };
}
