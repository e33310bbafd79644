// The three PATCH flavours the Kubernetes API accepts: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and, for built-in kinds, strategic merge patch (the common subset kubectl uses); and
// which one a request's Content-Type names.
import fastJsonPatch from 'fast-json-patch';
import { ApiError, badRequest, unsupportedMediaType } from './errors.js';
import { STRATEGIC_MERGE_KEYS, STRATEGIC_MERGE_SETS } from './resources.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function jsonPatch(target: Json, patch: Json): Json {
  if (!Array.isArray(patch)) throw badRequest('the JSON patch must be an array of operations');
  try {
    const result = fastJsonPatch.applyPatch(structuredClone(target), patch as fastJsonPatch.Operation[], true, false);
    return result.newDocument;
  } catch (err) {
    // Kubernetes answers any operation that cannot apply (a failed `test` included) with 422.
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${message}`);
  }
}

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  const rule = STRATEGIC_MERGE_KEYS[field];
  if (!rule) return undefined;
  if (typeof rule === 'string') return rule;
  const first = items.find(isObject);
  return first ? rule(first) : undefined;
}

/**
 * Strategic merge: maps merge, `null` deletes, lists of objects with a known merge key merge by it
 * (`$patch: delete` removes an item, `$patch: replace` replaces the list), `finalizers` union, other
 * lists are replaced. Ordering directives (`$setElementOrder/...`, `$retainKeys`) are accepted and
 * not needed for the result.
 */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return structuredClone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const remove = Array.isArray(v) ? v : [];
      if (Array.isArray(out[field])) out[field] = (out[field] as Json[]).filter((x) => !remove.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      out[k] = mergeList(k, out[k], v);
    } else if (isObject(v)) {
      const merged = strategicMergePatch(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  return out;
}

function mergeList(field: string, current: Json, patch: Json[]): Json[] {
  const base = Array.isArray(current) ? current : [];
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map((p) => structuredClone(p));
  }
  if (STRATEGIC_MERGE_SETS.has(field)) {
    const out = [...base];
    for (const item of patch) if (!out.includes(item)) out.push(item);
    return out;
  }
  const key = mergeKeyFor(field, [...patch, ...base]);
  if (!key) return patch.map((p) => structuredClone(p));
  const out: Json[] = base.map((b) => structuredClone(b));
  for (const item of patch) {
    if (!isObject(item) || !(key in item)) {
      out.push(structuredClone(item));
      continue;
    }
    const idx = out.findIndex((b) => isObject(b) && b[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], item);
    else out.push(strategicMergePatch({}, item));
  }
  return out;
}

/** `apply` is server-side apply, approximated: create if absent, else merge (no field ownership). */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

/** What a custom resource accepts: no strategic merge, which needs the built-in kinds' merge keys. */
export const PATCH_TYPES_CUSTOM = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'];

export function applyPatch(target: unknown, type: PatchType, patch: unknown): unknown {
  switch (type) {
    case 'merge':
      return mergePatch(target, patch);
    case 'json':
      return jsonPatch(target, patch);
    case 'strategic':
      return strategicMergePatch(target, patch);
    case 'apply':
      return mergePatch(target, patch);
  }
}

/** The patch type a PATCH request's Content-Type names; 415 for any other. */
export function patchTypeOf(contentType: string): PatchType {
  const type = contentType.split(';')[0]!.trim();
  if (type === 'application/merge-patch+json') return 'merge';
  if (type === 'application/json-patch+json') return 'json';
  if (type === 'application/strategic-merge-patch+json') return 'strategic';
  if (type === 'application/apply-patch+yaml') return 'apply';
  throw unsupportedMediaType(type, [
    'application/json-patch+json',
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
    'application/apply-patch+yaml',
  ]);
}
