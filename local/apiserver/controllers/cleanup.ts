// Namespace and CRD clean-up: a Namespace being deleted goes once nothing is left in it, a CRD
// being deleted once none of its custom resources is left; both delete what they still hold.
import type { ApiCore } from '../core.js';
import { CRD_CLEANUP_FINALIZER } from '../crds.js';
import type { ResourceType } from '../resources.js';
import type { Obj } from '../store.js';
import { deleteQuietly, dropFinalizer } from './deletion.js';

export function cleanUpCrd(core: ApiCore, t: ResourceType, key: string, crd: Obj): void {
  const served = core.table.byStorage(`${crd.spec?.group}/${crd.spec?.names?.plural}`);
  const crType = served[0];
  const remaining = crType ? core.store.list(crType.storageKey) : [];
  for (const cr of remaining) if (!cr.metadata.deletionTimestamp) deleteQuietly(core, crType!, cr);
  if (remaining.length === 0) dropFinalizer(core, t, key, crd, CRD_CLEANUP_FINALIZER);
}

export function cleanUpNamespace(core: ApiCore, t: ResourceType, namespace: Obj, entries: [string, Obj][]): void {
  let left = 0;
  for (const [key, o] of entries) {
    if (o.metadata.namespace !== namespace.metadata.name) continue;
    const ot = core.table.byStorage(key)[0];
    if (!ot || !ot.namespaced) continue;
    left++;
    if (!o.metadata.deletionTimestamp) deleteQuietly(core, ot, o);
  }
  if (left === 0) core.removeNow(t, namespace);
}
