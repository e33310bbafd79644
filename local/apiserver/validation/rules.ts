// A CRD's `x-kubernetes-validations`: compiled once when the CRD is registered, then evaluated on
// every value their schema node declares, with the field, reason and message Kubernetes reports.
// On an update, transition rules (oldSelf) see the old value at the same place, correlated as
// Kubernetes correlates it; where there is none they do not run.
import type { JsonSchema } from '../../../shared/api/openapi.js';
import type { StatusCause } from '../errors.js';
import { CelError, celValue, compileRule, type CompiledRule } from './cel.js';
import { isObj, walkCorrelated } from './walk.js';

interface ValidationRule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
  optionalOldSelf?: boolean;
}

interface RuleAt {
  compiled: CompiledRule;
  spec: ValidationRule;
}

export interface ValidationRules {
  /** Rules this server cannot evaluate (not enforced), each with why. */
  unsupported: string[];
  /** The violations in `obj`, which has already passed the schema; `old` is the stored object on an update. */
  check(obj: unknown, old?: unknown): StatusCause[];
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
        // oldSelf as an optional (present on create too) needs CEL optionals, which this CEL lacks.
        if (spec.optionalOldSelf === true) throw new CelError('optionalOldSelf is not supported');
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

/** A rule that could not be evaluated, reported on the rule's own node as Kubernetes does. */
function evaluationError(err: CelError, spec: ValidationRule, schema: JsonSchema, path: string): StatusCause {
  const rule = spec.message?.trim() || spec.rule.trim();
  const detail = /^found no matching overload/.test(err.message)
    ? `'no such overload': call arguments did not match a supported operator, function or macro signature for rule: ${rule}`
    : `${err.message} evaluating rule: ${rule}`;
  const message = `Invalid value: ${JSON.stringify(String(schema.type ?? 'object'))}: ${detail}`;
  return { reason: 'FieldValueInvalid', message, ...(path ? { field: path } : {}) };
}

function checkAt(value: unknown, old: unknown, schema: JsonSchema, path: string, here: RuleAt[], causes: StatusCause[]): void {
  const self = celValue(value, schema);
  let oldSelf: ReturnType<typeof celValue> | undefined;
  for (const { compiled, spec } of here) {
    if (compiled.usesOldSelf) {
      // Transition rules run only where an old value exists: never on create.
      if (old === undefined || old === null) continue;
      oldSelf ??= celValue(old, schema);
    }
    try {
      if (!compiled.checkTyped(self, compiled.usesOldSelf ? oldSelf : undefined)) causes.push(violation(spec, schema, path));
    } catch (err) {
      if (!(err instanceof CelError)) throw err;
      causes.push(evaluationError(err, spec, schema, path));
    }
  }
}

export function compileValidationRules(openAPIV3Schema: JsonSchema): ValidationRules {
  const rules = new Map<JsonSchema, RuleAt[]>();
  const unsupported: string[] = [];
  compileAt(openAPIV3Schema, rules, unsupported);
  return {
    unsupported,
    check(obj, old) {
      const causes: StatusCause[] = [];
      if (rules.size === 0) return causes;
      walkCorrelated(obj, old, openAPIV3Schema, (value, oldValue, schema, path) => {
        const here = rules.get(schema);
        if (here && value !== null) checkAt(value, oldValue, schema, path, here, causes);
      });
      return causes;
    },
  };
}
