// PersistentVolumeClaims as kube-apiserver admits them: the DefaultStorageClass admission plugin
// on create, and on update the claim validation (a bound claim's spec is fixed but for its storage
// request, which never shrinks) then the PersistentVolumeClaimResize plugin (a claim grows only
// when its StorageClass has allowVolumeExpansion).
import { compareQuantities, type Quantity } from '../../shared/api/quantity.js';
import { forbidden, invalid } from './errors.js';
import { canonical } from './canonical.js';
import type { Obj, Store } from './store.js';

export const STORAGE_CLASSES = 'storage.k8s.io/storageclasses';
const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

/** The default StorageClass: the newest of those annotated as default, as since Kubernetes 1.26. */
function defaultClass(store: Store): Obj | undefined {
  const defaults = store.list(STORAGE_CLASSES, undefined, (c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true');
  return defaults.sort((a, b) => String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)))[0];
}

/** A claim that names no class (not even "") gets the default one, when there is one. */
export function defaultClaimClass(claim: Obj, store: Store): void {
  claim.spec ??= {};
  if (claim.spec.storageClassName !== undefined) return;
  const name = defaultClass(store)?.metadata.name;
  if (name) claim.spec.storageClassName = name;
}

const storageOf = (claim: Obj): Quantity | undefined => claim.spec?.resources?.requests?.storage;

function specWithout(claim: Obj, storage: Quantity | undefined): string {
  const spec = structuredClone(claim.spec ?? {});
  if (spec.resources?.requests) {
    delete spec.resources.requests.storage;
    if (storage !== undefined) spec.resources.requests.storage = storage;
  }
  return canonical(spec);
}

/** An update of a claim's spec: 422 when it changes more than a bound claim may, 403 when it may not grow. */
export function admitClaimUpdate(existing: Obj, next: Obj, store: Store): void {
  const name = String(existing.metadata.name);
  const bound = existing.status?.phase === 'Bound';
  const [oldSize, newSize] = [storageOf(existing), storageOf(next)];
  const causes = [];
  if (specWithout(existing, oldSize) !== specWithout(next, bound ? oldSize : newSize)) {
    causes.push({
      reason: 'FieldValueForbidden',
      field: 'spec',
      message: 'Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
    });
  }
  const compared = oldSize !== undefined && newSize !== undefined ? compareQuantities(newSize, oldSize) : 0;
  if (compared < 0) {
    causes.push({
      reason: 'FieldValueForbidden',
      field: 'spec.resources.requests.storage',
      message: 'Forbidden: field can not be less than previous value',
    });
  }
  if (causes.length) throw invalid('PersistentVolumeClaim', '', name, causes);
  if (compared <= 0) return;
  const className = next.spec?.storageClassName;
  const storageClass = className ? store.get(STORAGE_CLASSES, undefined, String(className)) : undefined;
  if (!storageClass || className !== existing.spec?.storageClassName || storageClass.allowVolumeExpansion !== true) {
    throw forbidden(
      `persistentvolumeclaims "${name}" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`,
    );
  }
}
