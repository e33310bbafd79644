// Turns the JSON Schema that zod emits into the structural OpenAPI v3 schema Kubernetes requires of
// a CRD, and checks the structural rules. Anything it cannot express faithfully is an error, never
// silently dropped, so the CRD cannot quietly accept what the zod schema refuses.

export type JsonSchema = { [key: string]: unknown };

/** JavaScript's safe-integer bounds, which zod puts on every integer; Kubernetes has int64. */
const SAFE_INTEGER_BOUND = Number.MAX_SAFE_INTEGER;

/** Keywords copied as they are (after their values are checked by the structural walk). */
const VALUE_KEYWORDS = [
  'format',
  'nullable',
  'default',
  'enum',
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
] as const;

/** The order keys are written in, so the generated YAML reads naturally and diffs stay small. */
const KEY_ORDER = ['description', 'type', ...VALUE_KEYWORDS, 'required', 'properties', 'additionalProperties', 'items', 'anyOf', 'allOf'];

export class SchemaConversionError extends Error {
  constructor(path: string, message: string) {
    super(`${path || '(root)'}: ${message}`);
    this.name = 'SchemaConversionError';
  }
}

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmptySchema = (v: unknown) => v === true || (isObject(v) && Object.keys(v).length === 0);

/** Go's regexp (RE2) has no look-around and no back-references; Kubernetes compiles patterns with it. */
export function re2Problem(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern)) return 'uses look-around, which Kubernetes (RE2) does not support';
  if (/\\[1-9]/.test(pattern)) return 'uses a back-reference, which Kubernetes (RE2) does not support';
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `is not a valid regular expression (${(err as Error).message})`;
  }
  return undefined;
}

function ordered(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  const keys = Object.keys(node).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const key of keys) out[key] = node[key];
  return out;
}
function rank(key: string): number {
  const i = KEY_ORDER.indexOf(key);
  return i >= 0 ? i : key.startsWith('x-kubernetes-') ? KEY_ORDER.length + 1 : KEY_ORDER.length;
}

/** zod's `anyOf: [{type: string, ...}, {type: integer, ...}]` is Kubernetes' int-or-string. */
function intOrString(node: JsonSchema, path: string): JsonSchema | undefined {
  const anyOf = node.anyOf;
  if (!Array.isArray(anyOf) || anyOf.length !== 2 || !anyOf.every(isObject)) return undefined;
  const str = anyOf.find((s) => s.type === 'string');
  const int = anyOf.find((s) => s.type === 'integer');
  if (!str || !int) return undefined;
  const out: JsonSchema = {
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
  };
  for (const [key, value] of Object.entries(str)) {
    if (key === 'type') continue;
    if (key !== 'pattern' && key !== 'minLength' && key !== 'maxLength') {
      throw new SchemaConversionError(path, `int-or-string: string keyword "${key}" cannot be expressed`);
    }
    out[key] = value;
  }
  for (const [key, value] of Object.entries(int)) {
    if (key === 'type') continue;
    if (key !== 'minimum' && key !== 'maximum') {
      throw new SchemaConversionError(path, `int-or-string: integer keyword "${key}" cannot be expressed`);
    }
    if (Math.abs(value as number) !== SAFE_INTEGER_BOUND) out[key] = value;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'anyOf' || key === '$schema' || key === '$id') continue;
    if (key === 'description' || key === 'default' || key.startsWith('x-kubernetes-')) out[key] = value;
    else throw new SchemaConversionError(path, `int-or-string: keyword "${key}" cannot be expressed`);
  }
  return out;
}

/** One JSON Schema node (zod's 2020-12 output) to one structural OpenAPI v3 node. */
export function toStructural(node: unknown, path = ''): JsonSchema {
  if (!isObject(node)) throw new SchemaConversionError(path, 'expected a schema object');
  if ('anyOf' in node) {
    const converted = intOrString(node, path);
    if (!converted) throw new SchemaConversionError(path, 'anyOf other than int-or-string cannot be expressed structurally');
    return ordered(converted);
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) convertKeyword(node, key, value, path, out);
  if (out.properties && out.additionalProperties) {
    throw new SchemaConversionError(path, 'an object cannot have both properties and additionalProperties');
  }
  return ordered(out);
}

/** Writes one keyword of a JSON Schema node into its structural node `out`. */
function convertKeyword(node: JsonSchema, key: string, value: unknown, path: string, out: JsonSchema): void {
  switch (key) {
    case '$schema':
    case '$id':
      break;
    case 'type':
      convertType(value, path, out);
      break;
    case 'const':
      out.enum = [value];
      break;
    case 'description':
    case 'title':
      out[key] = value;
      break;
    case 'minimum':
    case 'maximum':
      if (Math.abs(value as number) !== SAFE_INTEGER_BOUND) out[key] = value;
      break;
    case 'pattern':
      // zod adds its own pattern to date-times; the format says it, and in a form Kubernetes checks.
      if (node.format === 'date-time') break;
      out.pattern = value;
      break;
    case 'properties':
      convertProperties(value, path, out);
      break;
    case 'required':
      if (Array.isArray(value) && value.length > 0) out.required = value;
      break;
    case 'additionalProperties':
      if (value === false) break; // Kubernetes prunes (or, with strict field validation, rejects) unknown fields
      if (isEmptySchema(value)) out['x-kubernetes-preserve-unknown-fields'] = true;
      else out.additionalProperties = toStructural(value, `${path}.*`);
      break;
    case 'propertyNames':
      if (!(isObject(value) && Object.keys(value).length === 1 && value.type === 'string')) {
        throw new SchemaConversionError(path, 'constraints on map keys cannot be expressed structurally; check them with a CEL rule');
      }
      break;
    case 'items':
      out.items = toStructural(value, `${path}[]`);
      break;
    case 'allOf':
      convertAllOf(value, path, out);
      break;
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      throw new SchemaConversionError(path, `${key} differs between JSON Schema and OpenAPI v3; use an inclusive bound`);
    default:
      if (key.startsWith('x-kubernetes-') || (VALUE_KEYWORDS as readonly string[]).includes(key)) {
        out[key] = value;
      } else {
        throw new SchemaConversionError(path, `keyword "${key}" cannot be expressed in a CRD schema`);
      }
  }
}

/** A list of types that adds only "null" becomes one type and nullable. */
function convertType(value: unknown, path: string, out: JsonSchema): void {
  if (!Array.isArray(value)) {
    out.type = value;
    return;
  }
  const types = value.filter((t) => t !== 'null');
  if (types.length !== 1) throw new SchemaConversionError(path, `type ${JSON.stringify(value)} cannot be expressed`);
  out.type = types[0];
  if (types.length !== value.length) out.nullable = true;
}

function convertProperties(value: unknown, path: string, out: JsonSchema): void {
  if (!isObject(value)) throw new SchemaConversionError(path, 'properties must be an object');
  const props: JsonSchema = {};
  for (const [name, sub] of Object.entries(value)) props[name] = toStructural(sub, `${path}.${name}`);
  if (Object.keys(props).length > 0) out.properties = props;
}

function convertAllOf(value: unknown, path: string, out: JsonSchema): void {
  if (!Array.isArray(value)) throw new SchemaConversionError(path, 'allOf must be a list');
  out.allOf = value.map((sub, i) => {
    const converted = toStructural(sub, `${path}.allOf[${i}]`);
    if ('type' in converted) throw new SchemaConversionError(path, 'allOf may hold value validations only');
    return converted;
  });
}

// --- the structural rules, checked over a whole schema ---------------------------------------------

const ALLOWED_KEYWORDS = new Set<string>([...KEY_ORDER, 'title', 'example', 'externalDocs']);
const JUNCTOR_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
/** Inside allOf/anyOf/oneOf/not only value validations may appear. */
const FORBIDDEN_IN_JUNCTORS = ['type', 'description', 'default', 'additionalProperties', 'nullable'];

/** Every way `schema` breaks the rules of a structural CRD schema; empty when it is structural. */
export function structuralProblems(schema: unknown, path = ''): string[] {
  const problems: string[] = [];
  const at = (p: string) => p || '(root)';
  const walk = (node: unknown, p: string, inJunctor: boolean) => {
    if (!isObject(node)) {
      problems.push(`${at(p)}: a schema must be an object`);
      return;
    }
    for (const key of Object.keys(node)) {
      if (!ALLOWED_KEYWORDS.has(key) && !key.startsWith('x-kubernetes-')) problems.push(`${at(p)}: keyword ${key} is not allowed`);
    }
    const intOrStr = node['x-kubernetes-int-or-string'] === true;
    const preserve = node['x-kubernetes-preserve-unknown-fields'];
    if (inJunctor) {
      for (const key of FORBIDDEN_IN_JUNCTORS) {
        if (key in node) problems.push(`${at(p)}: ${key} is not allowed inside allOf/anyOf/oneOf/not`);
      }
    } else if (intOrStr) {
      if ('type' in node) problems.push(`${at(p)}: int-or-string must not have a type`);
      if ('anyOf' in node && JSON.stringify(node.anyOf) !== JSON.stringify([{ type: 'integer' }, { type: 'string' }])) {
        problems.push(`${at(p)}: int-or-string anyOf must be [{type: integer}, {type: string}]`);
      }
    } else if (typeof node.type !== 'string' || !['object', 'array', 'string', 'integer', 'number', 'boolean'].includes(node.type)) {
      problems.push(`${at(p)}: has no valid type`);
    }
    if (preserve !== undefined && (preserve !== true || node.type !== 'object')) {
      problems.push(`${at(p)}: x-kubernetes-preserve-unknown-fields must be true and on an object`);
    }
    if ('properties' in node && 'additionalProperties' in node) {
      problems.push(`${at(p)}: properties and additionalProperties are mutually exclusive`);
    }
    if (node.additionalProperties === false || node.additionalProperties === true) {
      problems.push(`${at(p)}: additionalProperties must be a schema`);
    }
    if (node.uniqueItems === true) problems.push(`${at(p)}: uniqueItems is not allowed; use x-kubernetes-list-type`);
    if (node.type === 'array' && !inJunctor && !isObject(node.items)) problems.push(`${at(p)}: an array needs items`);
    if (typeof node.pattern === 'string') {
      const problem = re2Problem(node.pattern);
      if (problem) problems.push(`${at(p)}: pattern ${problem}`);
    }
    if (node['x-kubernetes-list-type'] === 'map') {
      const keys = node['x-kubernetes-list-map-keys'];
      const items = node.items as JsonSchema | undefined;
      const required = (items?.required as string[] | undefined) ?? [];
      if (!Array.isArray(keys) || keys.length === 0) problems.push(`${at(p)}: a map list needs x-kubernetes-list-map-keys`);
      else for (const k of keys) if (!required.includes(k)) problems.push(`${at(p)}: map key ${k} must be required in items`);
    }
    if (isObject(node.properties)) for (const [name, sub] of Object.entries(node.properties)) walk(sub, `${p}.${name}`, inJunctor);
    if (node.additionalProperties !== undefined && typeof node.additionalProperties !== 'boolean') {
      walk(node.additionalProperties, `${p}.*`, inJunctor);
    }
    if (node.items !== undefined) walk(node.items, `${p}[]`, inJunctor);
    for (const key of JUNCTOR_KEYWORDS) {
      const subs = node[key];
      if (subs === undefined) continue;
      if (intOrStr && key === 'anyOf') continue; // the one typed anyOf Kubernetes allows, checked above
      for (const [i, sub] of (Array.isArray(subs) ? subs : [subs]).entries()) walk(sub, `${p}.${key}[${i}]`, true);
    }
  };
  walk(schema, path, false);
  return problems;
}
