// The garbage collector, in passes over the whole store: dependents whose owners are all gone (or
// being deleted in the foreground) are deleted, foreground deletion ends when the last dependent
// is gone, Pods no kubelet finished deleting expire, and objects whose finalizers are done go.
import { FOREGROUND_FINALIZER, type ApiCore } from '../core.js';
import { CRD_CLEANUP_FINALIZER, isCrd } from '../crds.js';
import type { ResourceType } from '../resources.js';
import type { Obj, Store } from '../store.js';
import { cleanUpCrd, cleanUpNamespace } from './cleanup.js';
import { deleteQuietly, dropFinalizer } from './deletion.js';

/** How long after its grace period a Pod no kubelet deleted is removed anyway. */
const POD_GRACE_MARGIN_MS = 5_000;

const isNamespace = (t: ResourceType) => t.group === '' && t.plural === 'namespaces';

export function hasDependents(store: Store, uid: string): boolean {
  for (const [, o] of store.entries()) {
    if ((o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === uid)) return true;
  }
  return false;
}

/** Deletion with the Orphan policy: dependents lose their reference to the owner instead. */
export function orphanDependents(store: Store, uid: string): void {
  for (const [key, o] of [...store.entries()]) {
    const refs: Obj[] = o.metadata.ownerReferences ?? [];
    if (!refs.some((r) => r.uid === uid)) continue;
    const next = structuredClone(o);
    next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
    if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
    store.put(key, next, 'MODIFIED', o);
  }
}

interface Pass {
  entries: [string, Obj][];
  byUid: Map<string, Obj>;
  dependentsOf: Map<string, number>;
  now: number;
}

export function collectGarbage(core: ApiCore): void {
  const entries = [...core.store.entries()];
  if (!entries.some(([, o]) => o.metadata.deletionTimestamp || o.metadata.ownerReferences?.length)) return;
  const byUid = new Map<string, Obj>();
  for (const [, o] of entries) byUid.set(o.metadata.uid, o);
  const dependentsOf = new Map<string, number>();
  for (const [, o] of entries)
    for (const r of o.metadata.ownerReferences ?? []) dependentsOf.set(r.uid, (dependentsOf.get(r.uid) ?? 0) + 1);
  const pass: Pass = { entries, byUid, dependentsOf, now: Date.now() };

  for (const [key, o] of entries) {
    // Only owned objects and objects being deleted need anything from this pass.
    if (!o.metadata.deletionTimestamp && !o.metadata.ownerReferences?.length) continue;
    const t = core.table.byStorage(key)[0];
    if (!t) continue;
    const current = core.store.get(key, o.metadata.namespace, o.metadata.name);
    if (!current || current.metadata.uid !== o.metadata.uid) continue;
    if (followOwners(core, pass, t, key, current)) continue;
    if (current.metadata.deletionTimestamp) finishDeletion(core, pass, t, key, current);
  }
}

/** A live dependent: deleted when no owner is left, its dead owners dropped. True when it acted. */
function followOwners(core: ApiCore, pass: Pass, t: ResourceType, key: string, current: Obj): boolean {
  const refs: Obj[] = current.metadata.ownerReferences ?? [];
  if (!refs.length || current.metadata.deletionTimestamp) return false;
  const live = refs.filter((r) => pass.byUid.has(r.uid));
  const ownerDeleting = live.some((r) => {
    const owner = pass.byUid.get(r.uid)!;
    return owner.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER);
  });
  if (live.length === 0 || ownerDeleting) {
    deleteQuietly(core, t, current, { propagationPolicy: 'Background' });
    return true;
  }
  if (live.length < refs.length) {
    const next = structuredClone(current);
    next.metadata.ownerReferences = live;
    core.store.put(key, next, 'MODIFIED', current);
    return true;
  }
  return false;
}

function finishDeletion(core: ApiCore, pass: Pass, t: ResourceType, key: string, current: Obj): void {
  const meta = current.metadata;
  const finalizers: string[] = meta.finalizers ?? [];
  if (finalizers.includes(FOREGROUND_FINALIZER) && !pass.dependentsOf.get(meta.uid)) {
    dropFinalizer(core, t, key, current, FOREGROUND_FINALIZER);
  } else if (isCrd(t) && finalizers.includes(CRD_CLEANUP_FINALIZER)) {
    cleanUpCrd(core, t, key, current);
  } else if (isNamespace(t)) {
    cleanUpNamespace(core, t, current, pass.entries);
  } else if (core.podGracePending(t, current)) {
    if (Date.parse(meta.deletionTimestamp) + POD_GRACE_MARGIN_MS <= pass.now) {
      const next = structuredClone(current);
      next.metadata.deletionGracePeriodSeconds = 0;
      if (finalizers.length) core.store.put(key, next, 'MODIFIED', current);
      else core.removeNow(t, current);
    }
  } else if (finalizers.length === 0) core.removeNow(t, current);
}
