// The subresources that are not plain reads and writes of the object: pods/binding (the
// scheduler's only way to place a Pod), pods/eviction (a delete the Pod's budget may refuse) and
// /scale (a Scale view of the replica count a CRD names, as KEDA and `kubectl scale` write it).
import { disruptionStatus, isHealthy, PDB_STORAGE, podsOf } from './controllers/disruption.js';
import type { ApiCore, DeleteOptions, WriteOptions } from './core.js';
import { ApiError, conflict, invalid, notFound, unsupportedMediaType } from './errors.js';
import { evalJsonPath, setJsonPath } from './jsonpath.js';
import { applyPatch, PATCH_TYPES_CUSTOM, type PatchType } from './patch.js';
import type { ResourceType } from './resources.js';
import type { Obj } from './store.js';
import { timestamp } from './time.js';

type Rec = Record<string, any>;

/** POST pods/{name}/binding: assigns the Pod to a node, once. */
export function bind(core: ApiCore, namespace: string, name: string, body: unknown): void {
  const t = core.type('', 'v1', 'pods');
  const binding = (body ?? {}) as Obj;
  const node = binding.target?.name;
  if (!node) {
    throw invalid('Binding', '', name, [{ reason: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
  }
  const pod = core.store.get(t.storageKey, namespace, name);
  if (!pod) throw notFound('pods', '', name);
  if (pod.spec?.nodeName) {
    throw conflict('pods/binding', '', name, `pod ${name} is already assigned to node "${String(pod.spec.nodeName)}"`);
  }
  if (pod.metadata.deletionTimestamp)
    throw conflict('pods/binding', '', name, `pod ${name} is being deleted, cannot be assigned to a host`);
  const next = structuredClone(pod);
  next.spec.nodeName = node;
  const conditions: Rec[] = (next.status?.conditions ?? []).filter((c: Rec) => c.type !== 'PodScheduled');
  conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp() });
  next.status = { ...(next.status ?? {}), conditions };
  core.store.put(t.storageKey, next, 'MODIFIED', pod);
}

/**
 * POST pods/{name}/eviction: deletes the Pod unless that takes a healthy Pod its budget cannot
 * spare (429, as Kubernetes answers).
 */
export function evict(core: ApiCore, namespace: string, name: string, body: unknown): void {
  const t = core.type('', 'v1', 'pods');
  const pod = core.store.get(t.storageKey, namespace, name);
  if (!pod) throw notFound('pods', '', name);
  const budgets = core.store.list(PDB_STORAGE, namespace).filter((pdb) => podsOf(pdb, [pod]).length > 0);
  if (budgets.length > 1) {
    throw new ApiError(
      500,
      'InternalError',
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    );
  }
  const budget = budgets[0];
  if (budget && isHealthy(pod)) {
    const status = disruptionStatus(budget, core.store.list(t.storageKey, namespace));
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
  core.delete(t, namespace, name, options ?? {});
}

function scaleOf(t: ResourceType, o: Obj): Obj {
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

export function getScale(core: ApiCore, t: ResourceType, namespace: string | undefined, name: string): Obj {
  if (!t.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  return scaleOf(t, core.get(t, namespace, name));
}

/** PUT or PATCH of /scale: writes spec.replicas of the Scale into the object's spec path. */
export function updateScale(
  core: ApiCore,
  t: ResourceType,
  namespace: string | undefined,
  name: string,
  body: unknown,
  patchType: PatchType | undefined,
  opts: WriteOptions = {},
): Obj {
  if (!t.scale) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (patchType === 'strategic' && t.custom) throw unsupportedMediaType('application/strategic-merge-patch+json', PATCH_TYPES_CUSTOM);
  const existing = core.get(t, namespace, name);
  const current = scaleOf(t, existing);
  const scale = (patchType ? applyPatch(current, patchType === 'apply' ? 'merge' : patchType, body) : body) as Obj;
  const rv = scale?.metadata?.resourceVersion;
  if (rv && String(rv) !== existing.metadata.resourceVersion) throw conflict(t.plural, t.group, name);
  const replicas = scale?.spec?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid('Scale', 'autoscaling', name, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.replicas',
        message: `Invalid value: ${JSON.stringify(replicas ?? null)}: must be greater than or equal to 0`,
      },
    ]);
  }
  const next = structuredClone(existing);
  setJsonPath(next, t.scale.specReplicasPath, replicas);
  const { object } = core.update(t, namespace, name, next, undefined, opts);
  return scaleOf(t, object);
}
