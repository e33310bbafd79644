// What `kubectl apply` of one object gets from the API server's CRD validation, as a verdict the
// schema tests can compare with zod's: prune (unknown fields refused, as kubectl's default strict
// field validation does, or let through to be pruned), defaults, schema, then the CEL rules.
import type { JsonSchema } from '../../shared/api/openapi.js';
import { compileCrdSchema } from '../../local/apiserver/validation/openapi.js';

export interface CrdValidation {
  valid: boolean;
  /** Paths in zod's form (`spec.tolerations.0.effect`). */
  errors: { path: string; message: string }[];
  /** The object after pruning and defaults. */
  object: unknown;
}

export interface CrdValidatorOptions {
  /** Refuse fields the schema does not declare (true) or let them through (false: they are pruned). */
  strictFields?: boolean;
  /** Evaluate x-kubernetes-validations (default true). */
  cel?: boolean;
}

function withoutRules(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutRules);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => k !== 'x-kubernetes-validations')
      .map(([k, v]) => [k, withoutRules(v)]),
  );
}

const zodPath = (field: string) => field.replace(/\[(\d+)\]/g, '.$1');

export function openApiValidator(schema: JsonSchema, options: CrdValidatorOptions = {}) {
  const crd = compileCrdSchema(options.cel === false ? (withoutRules(schema) as JsonSchema) : schema);
  return (obj: unknown): CrdValidation => {
    const object = structuredClone(obj) as Record<string, unknown>;
    const removed = crd.prune(object);
    crd.applyDefaults(object);
    const errors = options.strictFields === false ? [] : removed.map((field) => ({ path: zodPath(field), message: 'unknown field' }));
    for (const cause of crd.validate(object)) errors.push({ path: zodPath(cause.field ?? ''), message: cause.message });
    return { valid: errors.length === 0, errors, object };
  };
}
