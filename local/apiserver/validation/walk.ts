// One walk over a custom resource and the schema node that declares each part of it, with the
// Kubernetes field path of each part (`status.conditions[0].type`).
import type { JsonSchema } from '../../../shared/api/openapi.js';

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema of an object's field: its property, or else the schema of every value of a map. */
export function fieldSchema(schema: JsonSchema, key: string): JsonSchema | undefined {
  const declared = isObj(schema.properties) ? (schema.properties[key] as JsonSchema | undefined) : undefined;
  return declared ?? (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
}

export const itemSchema = (schema: JsonSchema): JsonSchema | undefined => (isObj(schema.items) ? schema.items : undefined);

export const childPath = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Visits every value the schema declares, each before its fields and items. */
export function walkDeclared(
  value: unknown,
  schema: JsonSchema,
  visit: (value: unknown, schema: JsonSchema, path: string) => void,
  path = '',
): void {
  if (value === undefined) return;
  visit(value, schema, path);
  if (Array.isArray(value)) {
    const items = itemSchema(schema);
    if (items) value.forEach((item, i) => walkDeclared(item, items, visit, `${path}[${i}]`));
    return;
  }
  if (!isObj(value)) return;
  for (const [key, field] of Object.entries(value)) {
    const declared = fieldSchema(schema, key);
    if (declared) walkDeclared(field, declared, visit, childPath(path, key));
  }
}

/**
 * The old item a list item is compared with: only lists of type map correlate, by their keys; in
 * any other list an item has no old value, as in Kubernetes.
 */
function oldListItem(schema: JsonSchema, item: unknown, old: unknown): unknown {
  const keys = schema['x-kubernetes-list-map-keys'];
  if (schema['x-kubernetes-list-type'] !== 'map' || !Array.isArray(keys) || !Array.isArray(old) || !isObj(item)) return undefined;
  return old.find((candidate) => isObj(candidate) && keys.every((k: string) => candidate[k] === item[k]));
}

/**
 * walkDeclared with, beside each value, its old value at the same place (undefined when there is
 * none): object fields by name unless the object is `x-kubernetes-map-type: atomic`, list items by
 * the keys of a map list.
 */
export function walkCorrelated(
  value: unknown,
  old: unknown,
  schema: JsonSchema,
  visit: (value: unknown, old: unknown, schema: JsonSchema, path: string) => void,
  path = '',
): void {
  if (value === undefined) return;
  visit(value, old, schema, path);
  if (Array.isArray(value)) {
    const items = itemSchema(schema);
    if (items) value.forEach((item, i) => walkCorrelated(item, oldListItem(schema, item, old), items, visit, `${path}[${i}]`));
    return;
  }
  if (!isObj(value)) return;
  const correlates = isObj(old) && schema['x-kubernetes-map-type'] !== 'atomic';
  for (const [key, field] of Object.entries(value)) {
    const declared = fieldSchema(schema, key);
    if (declared) walkCorrelated(field, correlates ? old[key] : undefined, declared, visit, childPath(path, key));
  }
}
