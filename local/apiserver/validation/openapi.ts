// The OpenAPI v3 (structural) schema of a CRD version, applied to custom resources as the
// Kubernetes API server does: prune unknown fields, apply `default`s, validate (types, bounds,
// patterns, enums, int-or-string, date-times, map and set lists), then the
// `x-kubernetes-validations` rules; failures are field errors with Kubernetes' paths and wording.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { JsonSchema } from '../../../shared/api/openapi.js';
import type { StatusCause } from '../errors.js';
import { compileValidationRules } from './rules.js';
import { childPath, fieldSchema, isObj, itemSchema, walkDeclared } from './walk.js';

export interface CrdSchema {
  /** Removes fields the schema does not declare; returns their paths (`spec.foo`). */
  prune(obj: Record<string, unknown>): string[];
  /** Fills in `default`s for absent fields of present objects. */
  applyDefaults(obj: Record<string, unknown>): void;
  /** Validation failures as Kubernetes causes; empty when valid. `old` is the stored object on an update. */
  validate(obj: Record<string, unknown>, old?: Record<string, unknown>): StatusCause[];
  /** `x-kubernetes-validations` rules this server cannot evaluate (not enforced), with why. */
  unsupportedRules: string[];
}

const ajv = new Ajv({ allErrors: true, strict: false });
// RFC 3339, as metav1.Time parses it.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/);
const FORMATS = new Set(['date-time']);

const PASS_THROUGH = [
  'type',
  'required',
  'enum',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'multipleOf',
  'minProperties',
  'maxProperties',
] as const;

/** Turns a structural OpenAPI v3 schema into plain JSON Schema for the validator. */
function toJsonSchema(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const k of PASS_THROUGH) if (s[k] !== undefined) out[k] = s[k];
  // Formats other than these are let through unchecked (Kubernetes checks more of them).
  if (typeof s.format === 'string' && FORMATS.has(s.format)) out.format = s.format;
  if (s['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  // OpenAPI 3.0 spells exclusive bounds as booleans next to minimum/maximum.
  if (s.exclusiveMinimum === true && typeof s.minimum === 'number') {
    out.exclusiveMinimum = s.minimum;
    delete out.minimum;
  }
  if (s.exclusiveMaximum === true && typeof s.maximum === 'number') {
    out.exclusiveMaximum = s.maximum;
    delete out.maximum;
  }
  if (s.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (isObj(s.properties)) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toJsonSchema(v as JsonSchema)]));
  }
  if (isObj(s.items)) out.items = toJsonSchema(s.items);
  if (isObj(s.additionalProperties)) out.additionalProperties = toJsonSchema(s.additionalProperties);
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[k])) out[k] = (s[k] as JsonSchema[]).map(toJsonSchema);
  }
  if (isObj(s.not)) out.not = toJsonSchema(s.not);
  return out;
}

function prune(value: unknown, schema: JsonSchema, path: string, removed: string[], root: boolean): void {
  if (schema['x-kubernetes-int-or-string'] === true) return;
  if (Array.isArray(value)) {
    const items = itemSchema(schema);
    if (items) value.forEach((v, i) => prune(v, items, `${path}[${i}]`, removed, false));
    return;
  }
  if (!isObj(value)) return;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true || schema.additionalProperties === true;
  const embedded = root || schema['x-kubernetes-embedded-resource'] === true;
  for (const key of Object.keys(value)) {
    if (embedded && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
    const declared = fieldSchema(schema, key);
    if (declared) prune(value[key], declared, childPath(path, key), removed, false);
    else if (!preserve) {
      delete value[key];
      removed.push(childPath(path, key));
    }
  }
}

function applyDefaults(value: unknown, schema: JsonSchema): void {
  if (Array.isArray(value)) {
    const items = itemSchema(schema);
    if (items) for (const v of value) applyDefaults(v, items);
    return;
  }
  if (!isObj(value)) return;
  if (isObj(schema.properties)) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
      if (value[key] === undefined && child.default !== undefined) value[key] = structuredClone(child.default);
      applyDefaults(value[key], child);
    }
  } else if (isObj(schema.additionalProperties)) {
    for (const v of Object.values(value)) applyDefaults(v, schema.additionalProperties);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function render(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(typeName(v));
}

function fieldPath(instancePath: string, root: unknown): { path: string; value: unknown } {
  let path = '';
  let cur: unknown = root;
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      path += `[${seg}]`;
      cur = cur[Number(seg)];
    } else {
      path += path ? `.${seg}` : seg;
      cur = isObj(cur) ? cur[seg] : undefined;
    }
  }
  return { path, value: cur };
}

function toCause(e: ErrorObject, root: unknown): StatusCause | undefined {
  const { path, value } = fieldPath(e.instancePath, root);
  const p = e.params as Record<string, unknown>;
  const inBody = `${path} in body`;
  switch (e.keyword) {
    case 'required': {
      const field = path ? `${path}.${String(p.missingProperty)}` : String(p.missingProperty);
      return { reason: 'FieldValueRequired', message: 'Required value', field };
    }
    case 'type': {
      const want = Array.isArray(p.type) ? (p.type as string[]).filter((t) => t !== 'null').join(',') : String(p.type);
      return {
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${JSON.stringify(typeName(value))}: ${inBody} must be of type ${want}: ${JSON.stringify(typeName(value))}`,
        field: path,
      };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return {
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${render(value)}: supported values: ${allowed}`,
        field: path,
      };
    }
    case 'maxItems':
      return {
        reason: 'FieldValueTooMany',
        message: `Too many: ${Array.isArray(value) ? value.length : 0}: must have at most ${String(p.limit)} items`,
        field: path,
      };
    case 'format':
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${render(value)}: ${inBody} must be of type ${String(p.format)}: ${render(value)}`,
        field: path,
      };
    case 'anyOf':
      // int-or-string is the one anyOf structural schemas produce here.
      return {
        reason: 'FieldValueTypeInvalid',
        message: `Invalid value: ${JSON.stringify(typeName(value))}: ${inBody} must be of type integer or string: ${JSON.stringify(typeName(value))}`,
        field: path,
      };
  }
  const phrase: Record<string, string> = {
    minimum: `should be greater than or equal to ${String(p.limit)}`,
    exclusiveMinimum: `should be greater than ${String(p.limit)}`,
    maximum: `should be less than or equal to ${String(p.limit)}`,
    exclusiveMaximum: `should be less than ${String(p.limit)}`,
    minLength: `should be at least ${String(p.limit)} chars long`,
    maxLength: `may not be more than ${String(p.limit)} bytes`,
    pattern: `should match '${String(p.pattern)}'`,
    minItems: `should have at least ${String(p.limit)} items`,
    multipleOf: `should be a multiple of ${String(p.multipleOf)}`,
    uniqueItems: `shouldn't contain duplicates`,
    minProperties: `should have at least ${String(p.limit)} properties`,
    maxProperties: `should have at most ${String(p.limit)} properties`,
  };
  const text = phrase[e.keyword] ?? e.message ?? 'is invalid';
  return { reason: 'FieldValueInvalid', message: `Invalid value: ${render(value)}: ${inBody} ${text}`, field: path };
}

function schemaCauses(errors: ErrorObject[], obj: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  const seen = new Set<string>();
  for (const e of errors.filter((x) => !x.schemaPath.includes('/anyOf/'))) {
    const cause = toCause(e, obj);
    if (!cause) continue;
    const key = `${cause.field}|${cause.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    causes.push(cause);
  }
  return causes;
}

/** x-kubernetes-list-type map (items unique by their keys) and set (items unique). */
function listDuplicates(list: unknown[], schema: JsonSchema, path: string, causes: StatusCause[]): void {
  const type = schema['x-kubernetes-list-type'];
  if (type !== 'map' && type !== 'set') return;
  const keys = schema['x-kubernetes-list-map-keys'];
  const identity = (item: unknown) =>
    type === 'map' && Array.isArray(keys) ? Object.fromEntries(keys.map((k: string) => [k, isObj(item) ? item[k] : undefined])) : item;
  const seen = new Set<string>();
  list.forEach((item, i) => {
    const id = JSON.stringify(identity(item));
    if (seen.has(id)) causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${id}`, field: `${path}[${i}]` });
    seen.add(id);
  });
}

/** Compiles a CRD version's openAPIV3Schema and its rules; throws with the compiler's message when it is unusable. */
export function compileCrdSchema(openAPIV3Schema: JsonSchema): CrdSchema {
  const validator: ValidateFunction = ajv.compile(toJsonSchema(openAPIV3Schema));
  const rules = compileValidationRules(openAPIV3Schema);
  return {
    unsupportedRules: rules.unsupported,
    prune(obj) {
      const removed: string[] = [];
      prune(obj, openAPIV3Schema, '', removed, true);
      return removed;
    },
    applyDefaults(obj) {
      applyDefaults(obj, openAPIV3Schema);
    },
    validate(obj, old) {
      const causes = validator(obj) ? [] : schemaCauses(validator.errors ?? [], obj);
      walkDeclared(obj, openAPIV3Schema, (value, schema, path) => {
        if (Array.isArray(value)) listDuplicates(value, schema, path, causes);
      });
      // Rules run on values of the declared types only, as in Kubernetes.
      return causes.length ? causes : rules.check(obj, old);
    },
  };
}
