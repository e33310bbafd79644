// A thin layer over @kubernetes/client-node 1.4: the few calls the functions make, with the patch
// content types and error shapes handled once.
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type KubernetesObject,
  type V1StorageClass,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from './names.js';

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => statusCode(err) === 409;
/** An eviction its PodDisruptionBudget refused (no disruption allowed now). */
export const isTooManyRequests = (err: unknown): boolean => statusCode(err) === 429;

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** The API clients the functions share. One per process; cheap to build. */
export class Kube {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly coordination: CoordinationV1Api;
  readonly objects: KubernetesObjectApi;
  readonly storage: StorageV1Api;

  constructor(readonly kc: KubeConfig = loadKubeConfig()) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.storage = kc.makeApiClient(StorageV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kc);
  }

  // --- RedisCluster ---------------------------------------------------------------------------

  async getCluster<T = KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, ...ref })) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every RedisCluster in every namespace, or in one. */
  async listClusters<T = KubernetesObject>(namespace?: string): Promise<T[]> {
    const list = (
      namespace
        ? await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
        : await this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
    ) as { items?: T[] };
    return list.items ?? [];
  }

  /** Merge-patches the status subresource (no resourceVersion: status is owned by one writer at a time). */
  async patchClusterStatus(ref: ObjectRef, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, ...ref, body: { status } },
      mergePatch,
    );
  }

  /**
   * Merge-patches the object (spec or metadata). With `resourceVersion` the write is conditional:
   * a stale version gets 409, which callers retry after re-reading.
   */
  async patchCluster(ref: ObjectRef, body: Record<string, unknown>, resourceVersion?: string): Promise<KubernetesObject> {
    const withVersion = resourceVersion
      ? { ...body, metadata: { ...((body.metadata as object | undefined) ?? {}), resourceVersion } }
      : body;
    return (await this.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, ...ref, body: withVersion },
      mergePatch,
    )) as KubernetesObject;
  }

  // --- Storage --------------------------------------------------------------------------------

  async getStorageClass(name: string): Promise<V1StorageClass | undefined> {
    try {
      return await this.storage.readStorageClass({ name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Asks for a larger claim: the storage request is the one part of a bound claim's spec that may change. */
  async resizeClaim(namespace: string, name: string, storage: string): Promise<void> {
    const body = { spec: { resources: { requests: { storage } } } };
    await this.core.patchNamespacedPersistentVolumeClaim({ name, namespace, body }, mergePatch);
  }
  /** Merge-patches a Pod's annotations. */
  async annotatePod(namespace: string, name: string, annotations: Record<string, string>): Promise<void> {
    await this.core.patchNamespacedPod({ name, namespace, body: { metadata: { annotations } } }, mergePatch);
  }

  // --- Generic objects --------------------------------------------------------------------------

  async read<T extends KubernetesObject>(obj: T): Promise<T | undefined> {
    try {
      return (await this.objects.read(obj as KubernetesObject & { metadata: { name: string; namespace: string } })) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Creates the object, or merge-patches it when it exists. Returns the stored object. */
  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    try {
      return (await this.objects.create(obj)) as T;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    return (await this.objects.patch(obj, undefined, undefined, 'redis-operator', undefined, PatchStrategy.MergePatch)) as T;
  }

  /**
   * Evicts the Pod through the Eviction API: a delete its PodDisruptionBudget may refuse with 429,
   * as `kubectl drain` does. A Pod already gone is fine.
   */
  async evictPod(namespace: string, name: string): Promise<void> {
    try {
      await this.core.createNamespacedPodEviction({
        name,
        namespace,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Deletes the object; absent is fine. */
  async delete(obj: KubernetesObject, gracePeriodSeconds?: number): Promise<void> {
    try {
      await this.objects.delete(obj, undefined, undefined, gracePeriodSeconds);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
