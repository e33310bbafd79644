// What the API server does with objects, apart from HTTP: create/update/patch/delete with the
// Kubernetes semantics (resourceVersion conflicts, generation, status subresources, finalizers,
// graceful Pod deletion, deletion propagation). The controllers that finish deletions live in
// controllers/, the other subresources in subresources.ts, CRD registration in crds.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { admitCustom, prepareCreate, prepareUpdate, type FieldValidation } from './admission.js';
import { canonical } from './canonical.js';
import { hasDependents, orphanDependents } from './controllers/garbage-collector.js';
import { CRD_CLEANUP_FINALIZER, crdStatus, crdTypes, isCrd, registerCrd } from './crds.js';
import { ApiError, alreadyExists, badRequest, conflict, forbidden, invalid, notFound, unsupportedMediaType } from './errors.js';
import { fromEventsV1, toEventsV1 } from './event-versions.js';
import { applyPatch, PATCH_TYPES_CUSTOM, type PatchType } from './patch.js';
import { groupVersion, type ResourceTable, type ResourceType } from './resources.js';
import { ServiceAllocator, type ServiceRanges } from './service-allocation.js';
import { RBAC_GROUP, rbacNameProblem } from './rbac.js';
import { validateName } from './validation/names.js';
import type { Obj, Store } from './store.js';
import { timestamp } from './time.js';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
}

export interface WriteResult {
  object: Obj;
  warnings: string[];
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'cache'];
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
/** Held by an owner deleted in the foreground until its dependents are gone. */
export const FOREGROUND_FINALIZER = 'foregroundDeletion';

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  return [...bytes].map((b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

const isPod = (t: ResourceType) => t.group === '' && t.plural === 'pods';
const isNamespace = (t: ResourceType) => t.group === '' && t.plural === 'namespaces';

export class ApiCore {
  private readonly services: ServiceAllocator;
  /** Called when a write leaves something for the controllers to finish (a deletion, orphans). */
  wakeControllers: () => void = () => undefined;

  constructor(
    readonly store: Store,
    readonly table: ResourceTable,
    private readonly log: (msg: string) => void = () => undefined,
    serviceRanges: ServiceRanges = {},
  ) {
    this.services = new ServiceAllocator(store, serviceRanges);
    for (const [key, o] of [...store.entries()]) {
      if (key === 'apiextensions.k8s.io/customresourcedefinitions') {
        try {
          this.table.setCrd(o.metadata.name, crdTypes(o));
        } catch (err) {
          this.log(`stored CRD ${o.metadata.name} cannot be served: ${(err as Error).message}`);
        }
      }
    }
    const nsType = this.type('', 'v1', 'namespaces');
    for (const name of INITIAL_NAMESPACES) {
      if (!store.get(nsType.storageKey, undefined, name)) this.create(nsType, undefined, { metadata: { name } });
    }
  }

  type(group: string, version: string, plural: string): ResourceType {
    const t = this.table.find(group, version, plural);
    if (!t) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return t;
  }

  /** The object as the requested version shows it (all versions of a CRD share storage). */
  present(t: ResourceType, o: Obj): Obj {
    if (t.storedAs) return toEventsV1(o) as Obj;
    o.apiVersion = groupVersion(t.group, t.version);
    o.kind = t.kind;
    return o;
  }

  /** A stored object in the shape `t` shows (a copy only where the shapes differ). */
  view(t: ResourceType, o: Obj): Obj {
    return t.storedAs ? this.present(t, structuredClone(o)) : o;
  }

  /** The type whose shape objects of `t` are stored in. */
  private storedType(t: ResourceType): ResourceType {
    return this.type(t.storedAs!.group, t.storedAs!.version, t.storedAs!.plural);
  }

  private inStoredShape(t: ResourceType, body: unknown): Obj {
    return fromEventsV1(this.decode(t, body)) as Obj;
  }

  // --- reads ------------------------------------------------------------------------------------

  get(t: ResourceType, namespace: string | undefined, name: string): Obj {
    const o = this.store.get(t.storageKey, t.namespaced ? namespace : undefined, name);
    if (!o) throw notFound(t.plural, t.group, name);
    return this.present(t, o);
  }

  /** Objects of a type; `filter` sees them before they are copied (it must not change them). */
  list(t: ResourceType, namespace: string | undefined, filter?: (o: Obj) => boolean): Obj[] {
    const ns = t.namespaced ? namespace : undefined;
    if (t.storedAs)
      return this.store
        .list(t.storageKey, ns)
        .map((o) => this.present(t, o))
        .filter((o) => !filter || filter(o));
    return this.store.list(t.storageKey, ns, filter).map((o) => this.present(t, o));
  }

  // --- writes -----------------------------------------------------------------------------------

  private decode(t: ResourceType, body: unknown): Obj {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(`the object provided is unrecognized (must be of type ${t.kind})`);
    }
    const o = structuredClone(body) as Obj;
    const gv = groupVersion(t.group, t.version);
    if (o.kind !== undefined && o.kind !== t.kind) {
      throw badRequest(`the object provided is unrecognized (must be of type ${t.kind}): kind ${String(o.kind)} does not match`);
    }
    if (o.apiVersion !== undefined && o.apiVersion !== gv) {
      const other = this.table.findKind(String(o.apiVersion), t.kind);
      if (!other || other.storageKey !== t.storageKey) {
        throw badRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${gv})`);
      }
    }
    o.apiVersion = gv;
    o.kind = t.kind;
    if (!o.metadata || typeof o.metadata !== 'object') o.metadata = {};
    return o;
  }

  private requireNamespace(namespace: string): void {
    const ns = this.store.get(this.type('', 'v1', 'namespaces').storageKey, undefined, namespace);
    if (!ns) throw notFound('namespaces', '', namespace);
    if (ns.metadata.deletionTimestamp) {
      throw forbidden(`unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  private tracksGeneration(t: ResourceType, o: Obj): boolean {
    return t.custom || isCrd(t) || 'spec' in o;
  }

  /** What a spec change means: everything but metadata (and status, where it is a subresource). */
  private specOf(t: ResourceType, o: Obj): string {
    const rest: Record<string, unknown> = { ...o };
    delete rest.metadata;
    delete rest.apiVersion;
    delete rest.kind;
    if (t.status || !t.custom) delete rest.status;
    return canonical(rest);
  }
  create(t: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): WriteResult {
    if (t.storedAs) {
      const r = this.create(this.storedType(t), namespace, this.inStoredShape(t, body), opts);
      return { ...r, object: this.present(t, r.object) };
    }
    const o = this.decode(t, body);
    const meta = o.metadata;
    if (t.namespaced) {
      if (!namespace) throw badRequest('a namespace is required for a namespaced resource');
      if (meta.namespace && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace;
    } else delete meta.namespace;
    if (!meta.name) {
      if (!meta.generateName) {
        throw invalid(t.kind, t.group, '', [
          { reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' },
        ]);
      }
      meta.name = `${String(meta.generateName)}${randomSuffix()}`;
    }
    const nameProblem =
      t.group === RBAC_GROUP
        ? rbacNameProblem(String(meta.name))
        : validateName(String(meta.name), isNamespace(t) || (t.group === '' && t.plural === 'services'));
    if (nameProblem) throw invalid(t.kind, t.group, String(meta.name), [nameProblem]);
    if (t.namespaced) this.requireNamespace(namespace!);
    if (this.store.get(t.storageKey, meta.namespace, meta.name)) throw alreadyExists(t.plural, t.group, meta.name);

    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion', 'selfLink', 'managedFields']) delete meta[k];
    if (this.tracksGeneration(t, o)) meta.generation = 1;
    else delete meta.generation;
    if (t.custom && t.status) delete o.status;
    prepareCreate(t, o, this.services, this.store);
    const warnings = admitCustom(t, o, opts.fieldValidation);
    if (isCrd(t)) crdTypes(o);
    if (opts.dryRun) return { object: o, warnings };
    const stored = this.store.put(t.storageKey, o, 'ADDED');
    this.afterWrite(t, stored);
    return { object: this.present(t, stored), warnings };
  }
  /**
   * PUT, and the second half of PATCH: the incoming object replaces the stored one, except for
   * what the server owns (uid, creation time, generation, deletion state) and, where status is a
   * subresource, the status (or, for a /status write, everything but the status).
   */
  update(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    sub: 'status' | undefined,
    opts: WriteOptions = {},
  ): WriteResult {
    if (t.storedAs) {
      const r = this.update(this.storedType(t), namespace, name, this.inStoredShape(t, body), sub, opts);
      return { ...r, object: this.present(t, r.object) };
    }
    const existing = this.store.get(t.storageKey, t.namespaced ? namespace : undefined, name);
    if (!existing) throw notFound(t.plural, t.group, name);
    const incoming = this.decode(t, body);
    if (incoming.metadata.name && incoming.metadata.name !== name) {
      throw badRequest(`the name of the object (${String(incoming.metadata.name)}) does not match the name on the URL (${name})`);
    }
    if (t.namespaced && incoming.metadata.namespace && incoming.metadata.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const rv = incoming.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && String(rv) !== existing.metadata.resourceVersion) throw conflict(t.plural, t.group, name);

    let next: Obj;
    if (sub === 'status') {
      next = structuredClone(existing);
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = incoming;
      const m = existing.metadata;
      next.metadata = { ...incoming.metadata, name, uid: m.uid, creationTimestamp: m.creationTimestamp };
      delete next.metadata.namespace;
      if (t.namespaced) next.metadata.namespace = m.namespace;
      for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
        if (m[k] === undefined) delete next.metadata[k];
        else next.metadata[k] = m[k];
      }
      if (t.status) {
        if (existing.status === undefined) delete next.status;
        else next.status = existing.status;
      }
      prepareUpdate(t, existing, next, this.services, this.store);
    }
    next.apiVersion = existing.apiVersion;
    next.kind = existing.kind;

    if (existing.metadata.deletionTimestamp) {
      const before = new Set<string>(existing.metadata.finalizers ?? []);
      const added = (next.metadata.finalizers ?? []).filter((f: string) => !before.has(f));
      if (added.length) {
        throw invalid(t.kind, t.group, name, [
          {
            reason: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          },
        ]);
      }
    }
    const warnings = admitCustom(t, next, opts.fieldValidation, existing);
    if (isCrd(t)) {
      crdTypes(next);
      next.status = crdStatus(next);
    }
    if (this.tracksGeneration(t, next)) {
      const generation = Number(existing.metadata.generation ?? 1);
      next.metadata.generation = this.specOf(t, existing) === this.specOf(t, next) ? generation : generation + 1;
    }
    const comparable = (o: Obj) => canonical({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
    if (comparable(existing) === comparable(next)) return { object: this.present(t, existing), warnings };
    if (opts.dryRun) return { object: this.present(t, next), warnings };
    const stored = this.store.put(t.storageKey, next, 'MODIFIED', existing);
    this.afterWrite(t, stored);
    if (stored.metadata.deletionTimestamp && !(stored.metadata.finalizers ?? []).length && !this.podGracePending(t, stored)) {
      return { object: this.present(t, this.removeNow(t, stored)), warnings };
    }
    return { object: this.present(t, stored), warnings };
  }
  patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patchBody: unknown,
    sub: 'status' | undefined,
    opts: WriteOptions = {},
  ): WriteResult & { created?: boolean } {
    if (type === 'strategic' && t.custom) throw unsupportedMediaType('application/strategic-merge-patch+json', PATCH_TYPES_CUSTOM);
    if (type === 'apply' && !this.store.get(t.storageKey, t.namespaced ? namespace : undefined, name)) {
      const body = (patchBody ?? {}) as Obj;
      if (body.metadata?.name && body.metadata.name !== name) {
        throw badRequest(`the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${name})`);
      }
      return { ...this.create(t, namespace, { ...body, metadata: { ...(body.metadata ?? {}), name } }, opts), created: true };
    }
    const existing = this.get(t, namespace, name);
    const patched = applyPatch(existing, type === 'apply' ? (t.custom ? 'merge' : 'strategic') : type, patchBody) as Obj;
    if (!patched || typeof patched !== 'object') throw badRequest('the patch did not produce an object');
    return this.update(t, namespace, name, patched, sub, opts);
  }

  // --- deletion ---------------------------------------------------------------------------------

  /** A bound Pod whose containers the kubelet has not yet confirmed stopped. */
  podGracePending(t: ResourceType, o: Obj): boolean {
    return isPod(t) && Number(o.metadata.deletionGracePeriodSeconds ?? 0) > 0;
  }

  /** DELETE. Returns the object as it is afterwards (gone, or marked for deletion). */
  delete(t: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): { object: Obj; removed: boolean } {
    if (t.storedAs) {
      const r = this.delete(this.storedType(t), namespace, name, options);
      return { ...r, object: this.present(t, r.object) };
    }
    const existing = this.store.get(t.storageKey, t.namespaced ? namespace : undefined, name);
    if (!existing) throw notFound(t.plural, t.group, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== existing.metadata.uid) {
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(existing.metadata.uid)}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(existing.metadata.resourceVersion)}`,
      );
    }
    if (isNamespace(t) && PROTECTED_NAMESPACES.has(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    const policy = options.propagationPolicy ?? (options.orphanDependents === true ? 'Orphan' : 'Background');
    const dryRun = (options.dryRun ?? []).includes('All');
    const next = structuredClone(existing);
    const meta = next.metadata;
    const now = new Date();

    if (isPod(t)) {
      let grace = options.gracePeriodSeconds ?? Number(existing.spec?.terminationGracePeriodSeconds ?? 30);
      // An unbound Pod has no container to stop.
      if (!existing.spec?.nodeName || ['Succeeded', 'Failed'].includes(existing.status?.phase)) grace = 0;
      if (grace > 0) {
        const current = meta.deletionTimestamp ? Date.parse(meta.deletionTimestamp) : Infinity;
        const wanted = now.getTime() + grace * 1000;
        if (wanted < current) {
          meta.deletionTimestamp = timestamp(new Date(wanted));
          meta.deletionGracePeriodSeconds = grace;
        }
        if (dryRun) return { object: this.present(t, next), removed: false };
        if (policy === 'Orphan') orphanDependents(this.store, existing.metadata.uid);
        const stored = canonical(next) === canonical(existing) ? existing : this.store.put(t.storageKey, next, 'MODIFIED', existing);
        return { object: this.present(t, stored), removed: false };
      }
      if (meta.deletionTimestamp) meta.deletionGracePeriodSeconds = 0;
    }

    const finalizers: string[] = [...(meta.finalizers ?? [])];
    if (policy === 'Foreground' && hasDependents(this.store, existing.metadata.uid) && !finalizers.includes(FOREGROUND_FINALIZER)) {
      finalizers.push(FOREGROUND_FINALIZER);
    }
    if (isCrd(t) && !finalizers.includes(CRD_CLEANUP_FINALIZER) && !meta.deletionTimestamp) finalizers.push(CRD_CLEANUP_FINALIZER);
    const terminatingNamespace = isNamespace(t);
    if (finalizers.length || terminatingNamespace) {
      if (dryRun) return { object: this.present(t, next), removed: false };
      if (policy === 'Orphan') orphanDependents(this.store, existing.metadata.uid);
      meta.finalizers = finalizers.length ? finalizers : undefined;
      if (meta.finalizers === undefined) delete meta.finalizers;
      meta.deletionTimestamp ??= timestamp(now);
      meta.deletionGracePeriodSeconds ??= 0;
      if (terminatingNamespace) next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      const stored = canonical(next) === canonical(existing) ? existing : this.store.put(t.storageKey, next, 'MODIFIED', existing);
      this.wakeControllers();
      return { object: this.present(t, stored), removed: false };
    }
    if (dryRun) return { object: this.present(t, existing), removed: true };
    if (policy === 'Orphan') orphanDependents(this.store, existing.metadata.uid);
    return { object: this.present(t, this.removeNow(t, existing)), removed: true };
  }

  /** Removes the object from storage now, whatever its finalizers. */
  removeNow(t: ResourceType, o: Obj): Obj {
    const gone = this.store.remove(t.storageKey, o);
    if (isCrd(t)) this.table.removeCrd(o.metadata.name);
    this.wakeControllers();
    return gone;
  }

  private afterWrite(t: ResourceType, stored: Obj): void {
    if (isCrd(t)) registerCrd(this.table, stored, this.log);
    if (stored.metadata.deletionTimestamp) this.wakeControllers();
  }
}
