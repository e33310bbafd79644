// Validates objects against a CRD's openAPIV3Schema the way the API server does: defaults first,
// then types, bounds, patterns, enums, int-or-string, map-list keys, unknown fields refused
// (kubectl's default strict field validation), then the x-kubernetes-validations rules in the CEL
// subset that cel.ts evaluates.
import { Ajv, type ErrorObject } from 'ajv';
import { CelError, evaluateRule } from './cel.js';
import type { JsonSchema } from './openapi.js';

export interface OpenApiValidation {
  valid: boolean;
  errors: { path: string; message: string }[];
  /** The object after the schema's defaults were applied. */
  object: unknown;
}

export interface OpenApiValidatorOptions {
  /** Refuse fields the schema does not declare (true) or let them through (false: they would be pruned). */
  strictFields?: boolean;
  /** Evaluate x-kubernetes-validations (default true). */
  cel?: boolean;
}

type Rule = { rule: string; message?: string; fieldPath?: string };

/** Runs every CEL rule on the value it is declared for, as the API server does after the schema checks. */
function celErrors(schema: JsonSchema, value: unknown, path: string[], out: { path: string; message: string }[]): void {
  if (value === undefined) return;
  for (const r of (schema['x-kubernetes-validations'] ?? []) as Rule[]) {
    const at = [...path, ...(r.fieldPath ?? '').split('.').filter(Boolean)].join('.');
    try {
      if (!evaluateRule(r.rule, value)) out.push({ path: at, message: r.message ?? `failed rule: ${r.rule}` });
    } catch (err) {
      if (!(err instanceof CelError)) throw err;
      out.push({ path: at, message: `rule ${r.rule} could not be evaluated: ${err.message}` });
    }
  }
  if (typeof value !== 'object' || value === null) return;
  const entries = Object.entries(value as Record<string, unknown>);
  if (Array.isArray(value)) {
    const items = schema.items as JsonSchema | undefined;
    if (items) value.forEach((item, i) => celErrors(items, item, [...path, String(i)], out));
    return;
  }
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  const values = schema.additionalProperties as JsonSchema | undefined;
  for (const [key, sub] of entries) {
    const subSchema = properties?.[key] ?? (typeof values === 'object' ? values : undefined);
    if (subSchema) celErrors(subSchema, sub, [...path, key], out);
  }
}

// RFC 3339, as metav1.Time parses it.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Closes every object that declares its properties, which is what strict field validation means. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = key === 'default' || key === 'enum' ? value : closeObjects(value);
  }
  const schema = out as JsonSchema;
  if (schema.type === 'object' && schema.properties !== undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
    schema.additionalProperties = false;
  }
  return out;
}

function uniqueMapKeys(keys: string[], list: unknown): boolean {
  if (!Array.isArray(list)) return true;
  const seen = new Set<string>();
  for (const item of list) {
    const id = JSON.stringify(keys.map((k) => (item as Record<string, unknown>)?.[k]));
    if (seen.has(id)) return false;
    seen.add(id);
  }
  return true;
}

export function openApiValidator(schema: JsonSchema, options: OpenApiValidatorOptions = {}) {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
  ajv.addFormat('date-time', RFC3339);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    errors: false,
    validate: (on: boolean, data: unknown) => !on || typeof data === 'string' || (typeof data === 'number' && Number.isInteger(data)),
  });
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-map-keys',
    schemaType: 'array',
    errors: false,
    validate: (keys: string[], data: unknown) => uniqueMapKeys(keys, data),
  });
  for (const keyword of [
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-validations',
    'x-kubernetes-list-type',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-map-type',
  ]) {
    ajv.addKeyword({ keyword });
  }
  const validate = ajv.compile(options.strictFields === false ? schema : (closeObjects(schema) as JsonSchema));
  return (obj: unknown): OpenApiValidation => {
    const object = structuredClone(obj);
    if (!(validate(object) as boolean)) return { valid: false, errors: (validate.errors ?? []).map(describeError), object };
    const errors: { path: string; message: string }[] = [];
    if (options.cel !== false) celErrors(schema, object, [], errors);
    return { valid: errors.length === 0, errors, object };
  };
}

function describeError(error: ErrorObject): { path: string; message: string } {
  const path = error.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  if (error.keyword === 'additionalProperties') {
    return { path: [path, error.params.additionalProperty].filter(Boolean).join('.'), message: 'unknown field' };
  }
  return { path, message: error.message ?? error.keyword };
}
