// What the API server does with objects, apart from HTTP: create/update/patch/delete with the
// Kubernetes semantics (resourceVersion conflicts, generation, status and scale subresources,
// finalizers, graceful Pod deletion, owner-reference garbage collection, namespace and CRD
// clean-up, CRD registration and custom resource validation).
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  forbidden,
  invalid,
  notFound,
  unsupportedMediaType,
  type StatusCause,
} from './errors.js';
import { disruptionStatus, isHealthy, podsOf } from './disruption.js';
import { fromEventsV1, toEventsV1 } from './event-versions.js';
import { evalJsonPath, setJsonPath } from './jsonpath.js';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { groupVersion, type PrinterColumn, type ResourceTable, type ResourceType } from './resources.js';
import type { JsonSchema } from '../../shared/api/openapi.js';
import { validateName } from './validation/names.js';
import { compileCrdSchema } from './validation/openapi.js';
import type { Obj, Store } from './store.js';
import { timestamp } from './time.js';

type Rec = Record<string, any>;

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

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

/** `apply` is server-side apply, approximated: create if absent, else merge (no field ownership). */
export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'cache'];
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';
const FOREGROUND_FINALIZER = 'foregroundDeletion';
const PDB_STORAGE = 'policy/poddisruptionbudgets';
/** How long after its grace period a Pod no kubelet deleted is removed anyway. */
const POD_GRACE_MARGIN_MS = 5_000;


/** JSON with sorted keys, to compare objects regardless of key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
function randomSuffix(n = 5): string {
  const bytes = randomBytes(n);
  return [...bytes].map((b) => GENERATE_ALPHABET[b % GENERATE_ALPHABET.length]).join('');
}

const isPod = (t: ResourceType) => t.group === '' && t.plural === 'pods';
const isNamespace = (t: ResourceType) => t.group === '' && t.plural === 'namespaces';
const isCrd = (t: ResourceType) => t.group === 'apiextensions.k8s.io' && t.plural === 'customresourcedefinitions';

export class ApiCore {
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepSoon: NodeJS.Immediate | undefined;
  private nextClusterIp = 10;
  private budgetsSeenAt = -1;

  constructor(
    readonly store: Store,
    readonly table: ResourceTable,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    for (const [key, o] of [...store.entries()]) {
      if (key === 'apiextensions.k8s.io/customresourcedefinitions') {
        try {
          this.table.setCrd(o.metadata.name, this.crdTypes(o));
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

  startBackground(intervalMs = 250): void {
    this.sweepTimer = setInterval(() => this.sweep(), intervalMs);
    this.sweepTimer.unref();
  }

  stopBackground(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.sweepSoon) clearImmediate(this.sweepSoon);
  }

  private scheduleSweep(): void {
    if (this.sweepSoon) return;
    this.sweepSoon = setImmediate(() => {
      this.sweepSoon = undefined;
      this.sweep();
    });
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
    if (t.storedAs) return this.store.list(t.storageKey, ns).map((o) => this.present(t, o)).filter((o) => !filter || filter(o));
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

  /** Pruning, defaults and schema validation of custom resources; returns unknown-field warnings. */
  private admit(t: ResourceType, o: Obj, opts: WriteOptions): string[] {
    if (!t.custom || !t.schema) return [];
    const metadata = o.metadata;
    const removed = t.schema.prune(o);
    t.schema.applyDefaults(o);
    const { metadata: _m, ...withoutMetadata } = o;
    const causes = t.schema.validate(withoutMetadata);
    o.metadata = metadata;
    if (causes.length) throw invalid(t.kind, t.group, String(o.metadata.name ?? ''), causes);
    if (removed.length === 0) return [];
    if (opts.fieldValidation === 'Strict') {
      const list = removed.map((f) => `unknown field "${f}"`).join(', ');
      throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${list}`);
    }
    return opts.fieldValidation === 'Ignore' ? [] : removed.map((f) => `unknown field "${f}"`);
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
        throw invalid(t.kind, t.group, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
      }
      meta.name = `${String(meta.generateName)}${randomSuffix()}`;
    }
    const nameProblem = validateName(String(meta.name), isNamespace(t) || (t.group === '' && t.plural === 'services'));
    if (nameProblem) throw invalid(t.kind, t.group, String(meta.name), [nameProblem]);
    if (t.namespaced) this.requireNamespace(namespace!);
    if (this.store.get(t.storageKey, meta.namespace, meta.name)) throw alreadyExists(t.plural, t.group, meta.name);

    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion', 'selfLink', 'managedFields']) delete meta[k];
    if (this.tracksGeneration(t, o)) meta.generation = 1;
    else delete meta.generation;
    if (t.custom && t.status) delete o.status;
    this.prepareCreate(t, o);
    const warnings = this.admit(t, o, opts);
    if (isCrd(t)) this.crdTypes(o);
    if (opts.dryRun) return { object: o, warnings };
    const stored = this.store.put(t.storageKey, o, 'ADDED');
    this.afterWrite(t, stored);
    return { object: this.present(t, stored), warnings };
  }

  private prepareCreate(t: ResourceType, o: Obj): void {
    if (t.group !== '' && !isCrd(t)) return;
    switch (t.plural) {
      case 'pods': {
        const spec = (o.spec ??= {});
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
        break;
      }
      case 'services': {
        const spec = (o.spec ??= {});
        spec.type ??= 'ClusterIP';
        if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = this.allocateClusterIp();
        spec.clusterIPs ??= [spec.clusterIP];
        spec.sessionAffinity ??= 'None';
        for (const p of spec.ports ?? []) {
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port;
        }
        o.status ??= { loadBalancer: {} };
        break;
      }
      case 'namespaces':
        o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
        o.spec = { finalizers: ['kubernetes'] };
        o.status = { phase: 'Active' };
        break;
      case 'secrets':
        this.foldStringData(o);
        break;
      case 'customresourcedefinitions':
        o.status = this.crdStatus(o);
        break;
    }
  }

  private foldStringData(o: Obj): void {
    if (o.stringData && typeof o.stringData === 'object') {
      o.data = { ...(o.data ?? {}) };
      for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
      delete o.stringData;
    }
    o.type ??= 'Opaque';
  }

  private allocateClusterIp(): string {
    const used = new Set(this.store.list('/services').map((s) => s.spec?.clusterIP));
    for (;;) {
      const n = this.nextClusterIp++;
      const ip = `10.96.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
      if (!used.has(ip)) return ip;
    }
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
      this.prepareUpdate(t, existing, next);
    }
    next.apiVersion = existing.apiVersion;
    next.kind = existing.kind;

    if (existing.metadata.deletionTimestamp) {
      const before = new Set<string>(existing.metadata.finalizers ?? []);
      const added = (next.metadata.finalizers ?? []).filter((f: string) => !before.has(f));
      if (added.length) {
        throw invalid(t.kind, t.group, name, [
          { reason: 'FieldValueForbidden', field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` },
        ]);
      }
    }
    const warnings = this.admit(t, next, opts);
    if (isCrd(t)) {
      this.crdTypes(next);
      next.status = this.crdStatus(next);
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

  private prepareUpdate(t: ResourceType, existing: Obj, next: Obj): void {
    if (t.group !== '') return;
    if (t.plural === 'pods') {
      // Binding is the only way to set a Pod's node; an update cannot move or unbind it.
      next.spec ??= {};
      if (existing.spec?.nodeName) next.spec.nodeName = existing.spec.nodeName;
    } else if (t.plural === 'services') {
      next.spec ??= {};
      next.spec.clusterIP ??= existing.spec?.clusterIP;
      next.spec.clusterIPs ??= existing.spec?.clusterIPs;
      next.spec.type ??= 'ClusterIP';
    } else if (t.plural === 'secrets') {
      this.foldStringData(next);
    } else if (t.plural === 'namespaces') {
      next.spec = existing.spec;
    }
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

  private podGracePending(t: ResourceType, o: Obj): boolean {
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
      throw conflict(t.plural, t.group, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${String(existing.metadata.uid)}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== existing.metadata.resourceVersion) {
      throw conflict(t.plural, t.group, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${String(existing.metadata.resourceVersion)}`);
    }
    if (isNamespace(t) && PROTECTED_NAMESPACES.has(name)) {
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    const policy =
      options.propagationPolicy ?? (options.orphanDependents === true ? 'Orphan' : 'Background');
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
        if (policy === 'Orphan') this.orphanDependents(existing.metadata.uid);
        const stored = canonical(next) === canonical(existing) ? existing : this.store.put(t.storageKey, next, 'MODIFIED', existing);
        return { object: this.present(t, stored), removed: false };
      }
      if (meta.deletionTimestamp) meta.deletionGracePeriodSeconds = 0;
    }

    const finalizers: string[] = [...(meta.finalizers ?? [])];
    if (policy === 'Foreground' && this.hasDependents(existing.metadata.uid) && !finalizers.includes(FOREGROUND_FINALIZER)) {
      finalizers.push(FOREGROUND_FINALIZER);
    }
    if (isCrd(t) && !finalizers.includes(CRD_CLEANUP_FINALIZER) && !meta.deletionTimestamp) finalizers.push(CRD_CLEANUP_FINALIZER);
    const terminatingNamespace = isNamespace(t);
    if (finalizers.length || terminatingNamespace) {
      if (dryRun) return { object: this.present(t, next), removed: false };
      if (policy === 'Orphan') this.orphanDependents(existing.metadata.uid);
      meta.finalizers = finalizers.length ? finalizers : undefined;
      if (meta.finalizers === undefined) delete meta.finalizers;
      meta.deletionTimestamp ??= timestamp(now);
      meta.deletionGracePeriodSeconds ??= 0;
      if (terminatingNamespace) next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      const stored = canonical(next) === canonical(existing) ? existing : this.store.put(t.storageKey, next, 'MODIFIED', existing);
      this.scheduleSweep();
      return { object: this.present(t, stored), removed: false };
    }
    if (dryRun) return { object: this.present(t, existing), removed: true };
    if (policy === 'Orphan') this.orphanDependents(existing.metadata.uid);
    return { object: this.present(t, this.removeNow(t, existing)), removed: true };
  }

  private removeNow(t: ResourceType, o: Obj): Obj {
    const gone = this.store.remove(t.storageKey, o);
    if (isCrd(t)) this.table.removeCrd(o.metadata.name);
    this.scheduleSweep();
    return gone;
  }

  private hasDependents(uid: string): boolean {
    for (const [, o] of this.store.entries()) {
      if ((o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === uid)) return true;
    }
    return false;
  }

  private orphanDependents(uid: string): void {
    for (const [key, o] of [...this.store.entries()]) {
      const refs: Obj[] = o.metadata.ownerReferences ?? [];
      if (!refs.some((r) => r.uid === uid)) continue;
      const next = structuredClone(o);
      next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.store.put(key, next, 'MODIFIED', o);
    }
  }

  private typeForStorage(storageKey: string): ResourceType | undefined {
    return this.table.byStorage(storageKey)[0];
  }

  /**
   * The background controllers in one pass: garbage collection by owner references, foreground
   * deletion, expiry of Pods no kubelet finished deleting, namespace and CRD clean-up.
   */
  sweep(): void {
    try {
      this.updateBudgets();
      this.sweepOnce();
    } catch (err) {
      this.log(`background sweep failed: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private deleteQuietly(t: ResourceType, o: Obj, options: DeleteOptions = {}): void {
    try {
      this.delete(t, o.metadata.namespace, o.metadata.name, options);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  /** The disruption controller: each PodDisruptionBudget's status from the Pods it covers. */
  private updateBudgets(): void {
    // Nothing changed since the last look: nothing to recompute.
    if (this.budgetsSeenAt === this.store.rv) return;
    this.budgetsSeenAt = this.store.rv;
    const budgets = this.store.list(PDB_STORAGE);
    if (budgets.length === 0) return;
    const pods = this.store.list('/pods');
    for (const pdb of budgets) {
      const status = { ...(pdb.status ?? {}), ...disruptionStatus(pdb, pods), observedGeneration: pdb.metadata.generation ?? 1 };
      if (canonical(status) === canonical(pdb.status ?? {})) continue;
      this.store.put(PDB_STORAGE, { ...pdb, status }, 'MODIFIED', pdb);
    }
    this.budgetsSeenAt = this.store.rv;
  }

  /**
   * POST pods/{name}/eviction: deletes the Pod unless that takes a healthy Pod its budget cannot
   * spare (429, as Kubernetes answers).
   */
  evict(namespace: string, name: string, body: unknown): void {
    const t = this.type('', 'v1', 'pods');
    const pod = this.store.get(t.storageKey, namespace, name);
    if (!pod) throw notFound('pods', '', name);
    const budgets = this.store.list(PDB_STORAGE, namespace).filter((pdb) => podsOf(pdb, [pod]).length > 0);
    if (budgets.length > 1) {
      throw new ApiError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
    }
    const budget = budgets[0];
    if (budget && isHealthy(pod)) {
      const status = disruptionStatus(budget, this.store.list(t.storageKey, namespace));
      if (status.disruptionsAllowed <= 0) {
        throw new ApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
          causes: [
            {
              reason: 'DisruptionBudget',
              message: `The disruption budget ${String(budget.metadata.name)} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently`,
            },
          ],
        });
      }
    }
    const options = ((body ?? {}) as Rec).deleteOptions as DeleteOptions | undefined;
    this.delete(t, namespace, name, options ?? {});
  }

  private sweepOnce(): void {
    const entries = [...this.store.entries()];
    if (!entries.some(([, o]) => o.metadata.deletionTimestamp || o.metadata.ownerReferences?.length)) return;
    const byUid = new Map<string, Obj>();
    for (const [, o] of entries) byUid.set(o.metadata.uid, o);
    const dependentsOf = new Map<string, number>();
    for (const [, o] of entries) for (const r of o.metadata.ownerReferences ?? []) dependentsOf.set(r.uid, (dependentsOf.get(r.uid) ?? 0) + 1);
    const now = Date.now();

    for (const [key, o] of entries) {
      // Only owned objects and objects being deleted need anything from this pass.
      if (!o.metadata.deletionTimestamp && !o.metadata.ownerReferences?.length) continue;
      const t = this.typeForStorage(key);
      if (!t) continue;
      const current = this.store.get(key, o.metadata.namespace, o.metadata.name);
      if (!current || current.metadata.uid !== o.metadata.uid) continue;
      const meta = current.metadata;

      const refs: Obj[] = meta.ownerReferences ?? [];
      if (refs.length && !meta.deletionTimestamp) {
        const live = refs.filter((r) => byUid.has(r.uid));
        const ownerDeleting = live.some((r) => {
          const owner = byUid.get(r.uid)!;
          return owner.metadata.deletionTimestamp && (owner.metadata.finalizers ?? []).includes(FOREGROUND_FINALIZER);
        });
        if (live.length === 0 || ownerDeleting) {
          this.deleteQuietly(t, current, { propagationPolicy: 'Background' });
          continue;
        }
        if (live.length < refs.length) {
          const next = structuredClone(current);
          next.metadata.ownerReferences = live;
          this.store.put(key, next, 'MODIFIED', current);
          continue;
        }
      }

      if (!meta.deletionTimestamp) continue;
      const finalizers: string[] = meta.finalizers ?? [];
      if (finalizers.includes(FOREGROUND_FINALIZER) && !dependentsOf.get(meta.uid)) {
        this.dropFinalizer(t, key, current, FOREGROUND_FINALIZER);
        continue;
      }
      if (isCrd(t) && finalizers.includes(CRD_CLEANUP_FINALIZER)) {
        const served = this.table.byStorage(`${current.spec?.group}/${current.spec?.names?.plural}`);
        const crType = served[0];
        const remaining = crType ? this.store.list(crType.storageKey) : [];
        for (const cr of remaining) if (!cr.metadata.deletionTimestamp) this.deleteQuietly(crType!, cr);
        if (remaining.length === 0) this.dropFinalizer(t, key, current, CRD_CLEANUP_FINALIZER);
        continue;
      }
      if (isNamespace(t)) {
        let left = 0;
        for (const [ck, co] of entries) {
          if (co.metadata.namespace !== meta.name) continue;
          const ct = this.typeForStorage(ck);
          if (!ct || !ct.namespaced) continue;
          left++;
          if (!co.metadata.deletionTimestamp) this.deleteQuietly(ct, co);
        }
        if (left === 0) this.removeNow(t, current);
        continue;
      }
      if (this.podGracePending(t, current)) {
        if (Date.parse(meta.deletionTimestamp) + POD_GRACE_MARGIN_MS <= now) {
          const next = structuredClone(current);
          next.metadata.deletionGracePeriodSeconds = 0;
          if (finalizers.length) this.store.put(key, next, 'MODIFIED', current);
          else this.removeNow(t, current);
        }
        continue;
      }
      if (finalizers.length === 0) this.removeNow(t, current);
    }
  }

  private dropFinalizer(t: ResourceType, key: string, current: Obj, finalizer: string): void {
    const next = structuredClone(current);
    next.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
    if (next.metadata.finalizers.length === 0) {
      delete next.metadata.finalizers;
      if (!this.podGracePending(t, next)) {
        this.removeNow(t, current);
        return;
      }
    }
    this.store.put(key, next, 'MODIFIED', current);
  }

  // --- subresources -----------------------------------------------------------------------------

  /** POST pods/{name}/binding: assigns the Pod to a node, once. */
  bind(namespace: string, name: string, body: unknown): void {
    const t = this.type('', 'v1', 'pods');
    const binding = (body ?? {}) as Obj;
    const node = binding.target?.name;
    if (!node) {
      throw invalid('Binding', '', name, [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
    }
    const pod = this.store.get(t.storageKey, namespace, name);
    if (!pod) throw notFound('pods', '', name);
    if (pod.spec?.nodeName) {
      throw conflict('pods/binding', '', name, `pod ${name} is already assigned to node "${String(pod.spec.nodeName)}"`);
    }
    if (pod.metadata.deletionTimestamp) throw conflict('pods/binding', '', name, `pod ${name} is being deleted, cannot be assigned to a host`);
    const next = structuredClone(pod);
    next.spec.nodeName = node;
    const conditions: Rec[] = (next.status?.conditions ?? []).filter((c: Rec) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp() });
    next.status = { ...(next.status ?? {}), conditions };
    this.store.put(t.storageKey, next, 'MODIFIED', pod);
  }

  scaleOf(t: ResourceType, o: Obj): Obj {
    const s = t.scale!;
    const spec = evalJsonPath(o, s.specReplicasPath)[0];
    const status = evalJsonPath(o, s.statusReplicasPath)[0];
    const selector = s.labelSelectorPath ? evalJsonPath(o, s.labelSelectorPath)[0] : undefined;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: typeof spec === 'number' ? spec : 0 },
      status: { replicas: typeof status === 'number' ? status : 0, ...(typeof selector === 'string' ? { selector } : {}) },
    };
  }

  getScale(t: ResourceType, namespace: string | undefined, name: string): Obj {
    if (!t.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return this.scaleOf(t, this.get(t, namespace, name));
  }

  /** PUT or PATCH of /scale: writes spec.replicas of the Scale into the object's spec path. */
  updateScale(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: unknown,
    patchType: PatchType | undefined,
    opts: WriteOptions = {},
  ): Obj {
    if (!t.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (patchType === 'strategic' && t.custom) throw unsupportedMediaType('application/strategic-merge-patch+json', PATCH_TYPES_CUSTOM);
    const existing = this.get(t, namespace, name);
    const current = this.scaleOf(t, existing);
    const scale = (patchType ? applyPatch(current, patchType === 'apply' ? 'merge' : patchType, body) : body) as Obj;
    const rv = scale?.metadata?.resourceVersion;
    if (rv && String(rv) !== existing.metadata.resourceVersion) throw conflict(t.plural, t.group, name);
    const replicas = scale?.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid('Scale', 'autoscaling', name, [
        { reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0` },
      ]);
    }
    const next = structuredClone(existing);
    setJsonPath(next, t.scale.specReplicasPath, replicas);
    const { object } = this.update(t, namespace, name, next, undefined, opts);
    return this.scaleOf(t, object);
  }

  // --- CRDs -------------------------------------------------------------------------------------

  private crdStatus(crd: Obj): Rec {
    const names = crd.spec?.names ?? {};
    const now = timestamp();
    const storage = (crd.spec?.versions ?? []).find((v: Obj) => v.storage)?.name;
    const previous: Rec[] = crd.status?.conditions ?? [];
    const since = (type: string) => previous.find((c) => c.type === type)?.lastTransitionTime ?? now;
    const conditions: Rec[] = [
      { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: since('NamesAccepted') },
      { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: since('Established') },
    ];
    if (crd.metadata.deletionTimestamp) {
      conditions.push({ type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress', lastTransitionTime: now });
    }
    return {
      acceptedNames: { plural: names.plural, singular: names.singular ?? String(names.kind ?? '').toLowerCase(), kind: names.kind, listKind: names.listKind ?? `${names.kind}List`, ...(names.shortNames ? { shortNames: names.shortNames } : {}), ...(names.categories ? { categories: names.categories } : {}) },
      conditions,
      storedVersions: [...new Set([...(crd.status?.storedVersions ?? []), ...(storage ? [storage] : [])])],
    };
  }

  /** The resource types a CRD defines; throws 422 naming the field when it cannot be served. */
  crdTypes(crd: Obj): ResourceType[] {
    const name = String(crd.metadata?.name ?? '');
    const spec = crd.spec ?? {};
    const names = spec.names ?? {};
    const causes: StatusCause[] = [];
    const need = (cond: unknown, field: string) => {
      if (!cond) causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
    };
    need(spec.group, 'spec.group');
    need(names.plural, 'spec.names.plural');
    need(names.kind, 'spec.names.kind');
    need(spec.scope, 'spec.scope');
    const versions: Obj[] = Array.isArray(spec.versions) ? spec.versions : [];
    need(versions.length, 'spec.versions');
    if (causes.length === 0 && name !== `${names.plural}.${spec.group}`) {
      causes.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: must be spec.names.plural+"."+spec.group` });
    }
    if (spec.scope && !['Namespaced', 'Cluster'].includes(spec.scope)) {
      causes.push({ reason: 'FieldValueNotSupported', field: 'spec.scope', message: `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"` });
    }
    if (versions.length && versions.filter((v) => v.storage).length !== 1) {
      causes.push({ reason: 'FieldValueInvalid', field: 'spec.versions', message: `Invalid value: ${JSON.stringify(versions.map((v) => v.name))}: must have exactly one version marked as storage version` });
    }
    const types: ResourceType[] = [];
    versions.forEach((v, i) => {
      const schema = v.schema?.openAPIV3Schema as JsonSchema | undefined;
      if (!schema) {
        causes.push({ reason: 'FieldValueRequired', field: `spec.versions[${i}].schema.openAPIV3Schema`, message: 'Required value: schemas are required' });
        return;
      }
      if (schema.type !== 'object') {
        causes.push({ reason: 'FieldValueInvalid', field: `spec.versions[${i}].schema.openAPIV3Schema.type`, message: `Invalid value: ${JSON.stringify(schema.type ?? '')}: must be object at the root` });
        return;
      }
      let compiled;
      try {
        compiled = compileCrdSchema(schema);
      } catch (err) {
        causes.push({ reason: 'FieldValueInvalid', field: `spec.versions[${i}].schema.openAPIV3Schema`, message: `Invalid value: "object": ${(err as Error).message}` });
        return;
      }
      if (v.served === false) return;
      const scale = v.subresources?.scale;
      types.push({
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
        scale: scale ? { specReplicasPath: scale.specReplicasPath, statusReplicasPath: scale.statusReplicasPath, labelSelectorPath: scale.labelSelectorPath } : undefined,
        custom: true,
        schema: compiled,
        openAPIV3Schema: schema,
        printerColumns: (v.additionalPrinterColumns ?? []) as PrinterColumn[],
        storageKey: `${spec.group}/${names.plural}`,
      });
    });
    if (causes.length) throw invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, causes);
    return types;
  }

  private afterWrite(t: ResourceType, stored: Obj): void {
    if (isCrd(t)) {
      const types = this.crdTypes(stored);
      this.table.setCrd(stored.metadata.name, types);
      for (const rule of types[0]?.schema?.unsupportedRules ?? []) this.log(`CRD ${stored.metadata.name}: rule not enforced: ${rule}`);
    }
    if (stored.metadata.deletionTimestamp) this.scheduleSweep();
  }
}

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
