// CEL for a CRD's `x-kubernetes-validations` rules, on @bufbuild/cel: the CEL standard library
// (has(), size(), the all/exists/exists_one/map/filter macros, `in`, startsWith, matches, ...) with
// CEL's own semantics (int and double kept apart, errors absorbed by && and || when the other side
// decides, heterogeneous equality is false), plus Kubernetes' quantity library. Transition rules
// (those that read `oldSelf`) are evaluated with the old value when the caller has one.
import { celEnv, celList, celMap, CelScalar, celType, isCelError, parse, plan, type CelInput } from '@bufbuild/cel';
import type { JsonSchema } from '../../../shared/api/openapi.js';
import { QUANTITY_FUNCS, quantityRegistry } from './cel-quantity.js';

export class CelError extends Error {
  override readonly name = 'CelError';
}

export interface CompiledRule {
  /** Whether the rule reads `oldSelf`: a transition rule, run only on an update with an old value. */
  usesOldSelf: boolean;
  /**
   * Whether the rule holds for `self`, typed by its schema node when given (integer -> int,
   * number -> double; without a schema a whole number is an int). Throws CelError when the rule
   * cannot be evaluated, which Kubernetes reports as a violation.
   */
  check(self: unknown, schema?: JsonSchema, oldSelf?: unknown): boolean;
  /** The same for values celValue has typed already, so the rules of one value share them. */
  checkTyped(self: CelInput, oldSelf?: CelInput): boolean;
}

const env = celEnv({
  registry: quantityRegistry,
  variables: { self: CelScalar.DYN, oldSelf: CelScalar.DYN },
  funcs: QUANTITY_FUNCS,
});

type Expr = ReturnType<typeof parse>['expr'];

// Names CEL resolves without a declaration: the type denotations.
const TYPE_NAMES = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/** Identifiers the expression reads that neither `self` nor a macro variable binds. */
function undeclared(expr: Expr | undefined, bound: ReadonlySet<string>, out: Set<string>): void {
  if (!expr) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case 'identExpr':
      if (!bound.has(kind.value.name) && !TYPE_NAMES.has(kind.value.name)) out.add(kind.value.name);
      return;
    case 'selectExpr':
      return undeclared(kind.value.operand, bound, out);
    case 'callExpr':
      undeclared(kind.value.target, bound, out);
      for (const arg of kind.value.args) undeclared(arg, bound, out);
      return;
    case 'listExpr':
      for (const element of kind.value.elements) undeclared(element, bound, out);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') undeclared(entry.keyKind.value, bound, out);
        undeclared(entry.value, bound, out);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      undeclared(c.iterRange, bound, out);
      undeclared(c.accuInit, bound, out);
      const inner = new Set([...bound, c.iterVar, c.iterVar2, c.accuVar].filter(Boolean));
      for (const e of [c.loopCondition, c.loopStep]) undeclared(e, inner, out);
      undeclared(c.result, new Set([...bound, c.accuVar]), out);
      return;
    }
    default:
      return;
  }
}

/**
 * A JSON value as the CEL value its schema node declares. Objects and arrays become CEL maps and
 * lists here, once, rather than on every access during evaluation.
 */
export function celValue(value: unknown, schema?: JsonSchema): CelInput {
  if (typeof value === 'number') {
    return schema?.type === 'number' || !Number.isInteger(value) ? value : BigInt(value);
  }
  if (Array.isArray(value)) return celList(value.map((item) => celValue(item, schema?.items as JsonSchema | undefined)));
  if (typeof value === 'object' && value !== null) {
    const properties = schema?.properties as Record<string, JsonSchema> | undefined;
    const values = typeof schema?.additionalProperties === 'object' ? (schema.additionalProperties as JsonSchema) : undefined;
    return celMap(new Map(Object.entries(value).map(([key, v]) => [key, celValue(v, properties?.[key] ?? values)])));
  }
  return value as CelInput;
}

// @bufbuild/cel says "field not found" where Kubernetes (cel-go) says "no such key".
const kubernetesWording = (message: string) => message.replace(/^field not found: /, 'no such key: ');

function parseAndPlan(rule: string) {
  try {
    const expr = parse(rule).expr;
    return { expr, evaluate: plan(env, expr) };
  } catch (err) {
    throw new CelError(`cannot compile ${JSON.stringify(rule)}: ${(err as Error).message}`);
  }
}

/** Parses and plans a rule once; throws CelError when it is not valid CEL. */
export function compileRule(rule: string): CompiledRule {
  const { expr, evaluate } = parseAndPlan(rule);
  const names = new Set<string>();
  undeclared(expr, new Set(['self']), names);
  const usesOldSelf = names.delete('oldSelf');
  // Kubernetes refuses such a rule when it type-checks it; this planner resolves names only when
  // it runs, so the rule compiles and every evaluation fails.
  const unknown = [...names].map((n) => `undeclared reference to '${n}'`).join(', ');
  const checkTyped = (self: CelInput, oldSelf?: CelInput) => {
    if (unknown) throw new CelError(unknown);
    if (usesOldSelf && oldSelf === undefined) throw new CelError("no value for 'oldSelf': transition rules run only on updates");
    // Rules that do not read oldSelf never see the binding.
    const result = evaluate({ self, oldSelf: oldSelf ?? null });
    if (isCelError(result)) throw new CelError(kubernetesWording(result.message));
    if (typeof result !== 'boolean') throw new CelError(`expected a bool, got ${String(celType(result))}`);
    return result;
  };
  return {
    usesOldSelf,
    check: (self, schema, oldSelf) => checkTyped(celValue(self, schema), oldSelf === undefined ? undefined : celValue(oldSelf, schema)),
    checkTyped,
  };
}
