// CustomResourceDefinitions: the resource types a CRD defines (refused with 422 naming the field
// when it cannot be served), the status the API server keeps on it, and its registration in the
// resource table.
import { findCondition } from '../../shared/kube/conditions.js';
import { invalid, type StatusCause } from './errors.js';
import type { PrinterColumn, ResourceTable, ResourceType } from './resources.js';
import type { JsonSchema } from '../../shared/api/openapi.js';
import { compileCrdSchema } from './validation/openapi.js';
import type { Obj } from './store.js';
import { timestamp } from './time.js';

type Rec = Record<string, any>;

/** Held by a CRD being deleted until none of its custom resources is left. */
export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

export const isCrd = (t: ResourceType): boolean => t.group === 'apiextensions.k8s.io' && t.plural === 'customresourcedefinitions';

export function crdStatus(crd: Obj): Rec {
  const names = crd.spec?.names ?? {};
  const now = timestamp();
  const storage = (crd.spec?.versions ?? []).find((v: Obj) => v.storage)?.name;
  const previous: Rec[] = crd.status?.conditions ?? [];
  const since = (type: string) =>
    findCondition(previous as { type: string; lastTransitionTime?: string }[], type)?.lastTransitionTime ?? now;
  const conditions: Rec[] = [
    {
      type: 'NamesAccepted',
      status: 'True',
      reason: 'NoConflicts',
      message: 'no conflicts found',
      lastTransitionTime: since('NamesAccepted'),
    },
    {
      type: 'Established',
      status: 'True',
      reason: 'InitialNamesAccepted',
      message: 'the initial names have been accepted',
      lastTransitionTime: since('Established'),
    },
  ];
  if (crd.metadata.deletionTimestamp) {
    conditions.push({
      type: 'Terminating',
      status: 'True',
      reason: 'InstanceDeletionInProgress',
      message: 'CustomResource deletion is in progress',
      lastTransitionTime: now,
    });
  }
  return {
    acceptedNames: {
      plural: names.plural,
      singular: names.singular ?? String(names.kind ?? '').toLowerCase(),
      kind: names.kind,
      listKind: names.listKind ?? `${names.kind}List`,
      ...(names.shortNames ? { shortNames: names.shortNames } : {}),
      ...(names.categories ? { categories: names.categories } : {}),
    },
    conditions,
    storedVersions: [...new Set([...(crd.status?.storedVersions ?? []), ...(storage ? [storage] : [])])],
  };
}

/** What is wrong with a CRD's group, names, scope and versions as a whole. */
function crdCauses(name: string, spec: Rec, versions: Obj[]): StatusCause[] {
  const names = spec.names ?? {};
  const causes: StatusCause[] = [];
  const need = (cond: unknown, field: string) => {
    if (!cond) causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
  };
  need(spec.group, 'spec.group');
  need(names.plural, 'spec.names.plural');
  need(names.kind, 'spec.names.kind');
  need(spec.scope, 'spec.scope');
  need(versions.length, 'spec.versions');
  if (causes.length === 0 && name !== `${names.plural}.${spec.group}`) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(name)}: must be spec.names.plural+"."+spec.group`,
    });
  }
  if (spec.scope && !['Namespaced', 'Cluster'].includes(spec.scope)) {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.scope',
      message: `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`,
    });
  }
  if (versions.length && versions.filter((v) => v.storage).length !== 1) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.versions',
      message: `Invalid value: ${JSON.stringify(versions.map((v) => v.name))}: must have exactly one version marked as storage version`,
    });
  }
  return causes;
}

/** One served version's resource type, or the cause that keeps its schema from being served. */
function versionType(spec: Rec, v: Obj, i: number): ResourceType | StatusCause | undefined {
  const names = spec.names ?? {};
  const schema = v.schema?.openAPIV3Schema as JsonSchema | undefined;
  if (!schema)
    return {
      reason: 'FieldValueRequired',
      field: `spec.versions[${i}].schema.openAPIV3Schema`,
      message: 'Required value: schemas are required',
    };
  if (schema.type !== 'object') {
    return {
      reason: 'FieldValueInvalid',
      field: `spec.versions[${i}].schema.openAPIV3Schema.type`,
      message: `Invalid value: ${JSON.stringify(schema.type ?? '')}: must be object at the root`,
    };
  }
  let compiled;
  try {
    compiled = compileCrdSchema(schema);
  } catch (err) {
    return {
      reason: 'FieldValueInvalid',
      field: `spec.versions[${i}].schema.openAPIV3Schema`,
      message: `Invalid value: "object": ${(err as Error).message}`,
    };
  }
  if (v.served === false) return undefined;
  const scale = v.subresources?.scale;
  return {
    group: spec.group,
    version: v.name,
    kind: names.kind,
    plural: names.plural,
    singular: names.singular ?? String(names.kind).toLowerCase(),
    listKind: names.listKind ?? `${names.kind}List`,
    namespaced: spec.scope !== 'Cluster',
    shortNames: names.shortNames,
    categories: names.categories,
    status: v.subresources?.status !== undefined,
    scale: scale
      ? {
          specReplicasPath: scale.specReplicasPath,
          statusReplicasPath: scale.statusReplicasPath,
          labelSelectorPath: scale.labelSelectorPath,
        }
      : undefined,
    custom: true,
    schema: compiled,
    openAPIV3Schema: schema,
    printerColumns: (v.additionalPrinterColumns ?? []) as PrinterColumn[],
    storageKey: `${spec.group}/${names.plural}`,
  };
}

/** The resource types a CRD defines; throws 422 naming the field when it cannot be served. */
export function crdTypes(crd: Obj): ResourceType[] {
  const name = String(crd.metadata?.name ?? '');
  const spec = crd.spec ?? {};
  const versions: Obj[] = Array.isArray(spec.versions) ? spec.versions : [];
  const causes = crdCauses(name, spec, versions);
  const types: ResourceType[] = [];
  versions.forEach((v, i) => {
    const r = versionType(spec, v, i);
    if (r && 'storageKey' in r) types.push(r);
    else if (r) causes.push(r);
  });
  if (causes.length) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, causes);
  return types;
}

/** Serves (or serves anew) the types a stored CRD defines. */
export function registerCrd(table: ResourceTable, crd: Obj, log: (msg: string) => void): void {
  const types = crdTypes(crd);
  table.setCrd(crd.metadata.name, types);
  for (const rule of types[0]?.schema?.unsupportedRules ?? []) log(`CRD ${crd.metadata.name}: rule not enforced: ${rule}`);
}
