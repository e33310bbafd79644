// What the API server fills in and checks on a write before it is stored: the built-in kinds'
// defaults (Pods, Services, Namespaces, Secrets, CRDs' status) and, for custom resources, the
// CRD schema's pruning, defaults and validation.
import { admitClaimUpdate, defaultClaimClass } from './claims.js';
import { crdStatus, isCrd } from './crds.js';
import { badRequest, invalid, type StatusCause } from './errors.js';
import type { ResourceType } from './resources.js';
import type { ServiceAllocator } from './service-allocation.js';
import type { Obj, Store } from './store.js';

type Rec = Record<string, any>;

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

function validatePod(t: ResourceType, o: Obj): void {
  const spec = o.spec;
  const causes: StatusCause[] = [];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    causes.push({ reason: 'FieldValueRequired', field: 'spec.containers', message: 'Required value' });
  } else {
    spec.containers.forEach((c: Obj, i: number) => {
      if (!c?.name) causes.push({ reason: 'FieldValueRequired', field: `spec.containers[${i}].name`, message: 'Required value' });
      if (!c?.image) causes.push({ reason: 'FieldValueRequired', field: `spec.containers[${i}].image`, message: 'Required value' });
    });
  }
  if (causes.length) throw invalid(t.kind, t.group, o.metadata.name, causes);
}

function defaultPod(o: Obj): void {
  const spec = o.spec;
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Rec[]) {
    for (const port of c.ports ?? []) port.protocol ??= 'TCP';
    c.imagePullPolicy ??= String(c.image).endsWith(':latest') || !String(c.image).includes(':') ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
  }
  spec.schedulerName ??= 'default-scheduler';
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  o.status = { phase: 'Pending' };
}

function foldStringData(o: Obj): void {
  if (o.stringData && typeof o.stringData === 'object') {
    o.data = { ...(o.data ?? {}) };
    for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
    delete o.stringData;
  }
  o.type ??= 'Opaque';
}

/** Defaults and checks of a new built-in object (core kinds and CRDs). */
export function prepareCreate(t: ResourceType, o: Obj, services: ServiceAllocator, store: Store): void {
  if (t.group !== '' && !isCrd(t)) return;
  switch (t.plural) {
    case 'pods':
      o.spec ??= {};
      validatePod(t, o);
      defaultPod(o);
      break;
    case 'services':
      services.admitCreate(o);
      break;
    case 'namespaces':
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
      break;
    case 'secrets':
      foldStringData(o);
      break;
    case 'persistentvolumeclaims':
      defaultClaimClass(o, store);
      break;
    case 'customresourcedefinitions':
      o.status = crdStatus(o);
      break;
  }
}

/** What an update of a core object keeps from the stored one, and its defaults. */
export function prepareUpdate(t: ResourceType, existing: Obj, next: Obj, services: ServiceAllocator, store: Store): void {
  if (t.group !== '') return;
  if (t.plural === 'pods') {
    // Binding is the only way to set a Pod's node; an update cannot move or unbind it.
    next.spec ??= {};
    if (existing.spec?.nodeName) next.spec.nodeName = existing.spec.nodeName;
  } else if (t.plural === 'services') {
    services.admitUpdate(existing, next);
  } else if (t.plural === 'secrets') {
    foldStringData(next);
  } else if (t.plural === 'namespaces') {
    next.spec = existing.spec;
  } else if (t.plural === 'persistentvolumeclaims') {
    admitClaimUpdate(existing, next, store);
  }
}

/**
 * Pruning, defaults and schema validation of custom resources; returns unknown-field warnings.
 * `existing` is the stored object on an update, for the CRD's transition rules.
 */
export function admitCustom(t: ResourceType, o: Obj, fieldValidation: FieldValidation | undefined, existing?: Obj): string[] {
  if (!t.custom || !t.schema) return [];
  const metadata = o.metadata;
  const removed = t.schema.prune(o);
  t.schema.applyDefaults(o);
  const { metadata: _m, ...withoutMetadata } = o;
  const old = existing ? { ...existing, metadata: undefined } : undefined;
  const causes = t.schema.validate(withoutMetadata, old);
  o.metadata = metadata;
  if (causes.length) throw invalid(t.kind, t.group, String(o.metadata.name ?? ''), causes);
  if (removed.length === 0) return [];
  if (fieldValidation === 'Strict') {
    const list = removed.map((f) => `unknown field "${f}"`).join(', ');
    throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${list}`);
  }
  return fieldValidation === 'Ignore' ? [] : removed.map((f) => `unknown field "${f}"`);
}
