// A CRD's `x-kubernetes-validations`: compiled once when the CRD is registered, then evaluated on
// every value their schema node declares, with the field, reason and message Kubernetes reports.
import type { JsonSchema } from '../../../shared/api/openapi.js';
import type { StatusCause } from '../errors.js';
import { CelError, celValue, compileRule, type CompiledRule } from './cel.js';
import { isObj, walkDeclared } from './walk.js';

interface ValidationRule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
}

interface RuleAt {
  compiled: CompiledRule;
  spec: ValidationRule;
}

export interface ValidationRules {
  /** Rules this server cannot evaluate (not enforced), each with why. */
  unsupported: string[];
  /** The violations in `obj`, which has already passed the schema. */
  check(obj: unknown): StatusCause[];
}

function childSchemas(schema: JsonSchema): JsonSchema[] {
  const children = isObj(schema.properties) ? (Object.values(schema.properties) as JsonSchema[]) : [];
  for (const sub of [schema.items, schema.additionalProperties]) if (isObj(sub)) children.push(sub);
  return children;
}

function compileAt(schema: JsonSchema, out: Map<JsonSchema, RuleAt[]>, unsupported: string[]): void {
  const rules = schema['x-kubernetes-validations'];
  if (Array.isArray(rules)) {
    const compiled: RuleAt[] = [];
    for (const spec of rules as ValidationRule[]) {
      try {
        compiled.push({ compiled: compileRule(spec.rule), spec });
      } catch (err) {
        if (!(err instanceof CelError)) throw err;
        unsupported.push(`${spec.rule}: ${err.message}`);
      }
    }
    if (compiled.length) out.set(schema, compiled);
  }
  for (const child of childSchemas(schema)) compileAt(child, out, unsupported);
}

function violation(spec: ValidationRule, schema: JsonSchema, path: string): StatusCause {
  const fieldPath = spec.fieldPath ?? '';
  const field = fieldPath ? `${path}${fieldPath.startsWith('[') || !path ? fieldPath.replace(/^\./, '') : fieldPath}` : path;
  const text = spec.message ?? `failed rule: ${spec.rule}`;
  const reason = spec.reason ?? 'FieldValueInvalid';
  const message =
    reason === 'FieldValueRequired'
      ? `Required value: ${text}`
      : reason === 'FieldValueForbidden'
        ? `Forbidden: ${text}`
        : `Invalid value: ${JSON.stringify(String(schema.type ?? 'object'))}: ${text}`;
  return { reason, message, ...(field ? { field } : {}) };
}

function checkAt(value: unknown, schema: JsonSchema, path: string, here: RuleAt[], causes: StatusCause[]): void {
  const self = celValue(value, schema);
  for (const { compiled, spec } of here) {
    let holds: boolean;
    try {
      holds = compiled.checkTyped(self);
    } catch (err) {
      // A rule that cannot be evaluated on this value is a violation, as in Kubernetes.
      if (!(err instanceof CelError)) throw err;
      holds = false;
    }
    if (!holds) causes.push(violation(spec, schema, path));
  }
}

export function compileValidationRules(openAPIV3Schema: JsonSchema): ValidationRules {
  const rules = new Map<JsonSchema, RuleAt[]>();
  const unsupported: string[] = [];
  compileAt(openAPIV3Schema, rules, unsupported);
  return {
    unsupported,
    check(obj) {
      const causes: StatusCause[] = [];
      if (rules.size === 0) return causes;
      walkDeclared(obj, openAPIV3Schema, (value, schema, path) => {
        const here = rules.get(schema);
        if (here && value !== null) checkAt(value, schema, path, here, causes);
      });
      return causes;
    },
  };
}
