// The platform's storage: one StorageClass, the default, whose volumes are directories on the host.
// The kubelet is its provisioner (a claim is Bound when a Pod first uses it) and its resizer: a
// directory has no size to change, so a grown claim's new size is in its status at the next volume
// sync, as the kubelet reports a finished online expansion.
import { compareQuantities } from '../../shared/api/quantity.js';
import type { KubeObject, KubeRest } from '../apiserver/client.js';
import type { VolumeSource } from './volumes.js';

export const DEFAULT_STORAGE_CLASS = 'standard';

const storageClass: KubeObject = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
  provisioner: 'local.platform/host-directories',
  reclaimPolicy: 'Delete',
  volumeBindingMode: 'WaitForFirstConsumer',
  allowVolumeExpansion: true,
};

/** Registers the default StorageClass unless a class of that name exists (kept state, or a person's). */
export async function registerStorageClass(kube: KubeRest): Promise<void> {
  if (await kube.get('storage.k8s.io/v1', 'StorageClass', DEFAULT_STORAGE_CLASS)) return;
  await kube.create(storageClass);
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The claim side of the kubelet's volumes; a claim the API cannot hold does not stop the Pod, whose data is the directory. */
export function claimVolumes(kube: KubeRest, log: (msg: string) => void): Pick<VolumeSource, 'bindClaim' | 'expandClaim'> {
  const { bind, expand } = claimStatus(kube);
  return {
    bindClaim: async (namespace, claimName) => {
      try {
        return await bind(namespace, claimName);
      } catch (err) {
        log(`claim ${namespace}/${claimName}: could not be marked Bound: ${errorText(err)}`);
        return undefined;
      }
    },
    expandClaim: async (namespace, claimName) => {
      try {
        await expand(namespace, claimName);
      } catch (err) {
        log(`claim ${namespace}/${claimName}: its new size could not be reported: ${errorText(err)}`);
      }
    },
  };
}

function claimStatus(kube: KubeRest) {
  const writeStatus = (claim: KubeObject, status: unknown) =>
    kube.patch('v1', 'PersistentVolumeClaim', claim.metadata!.name!, claim.metadata!.namespace, { status }, { subresource: 'status' });
  return {
    bind: async (namespace: string, claimName: string) => {
      const claim =
        (await kube.get('v1', 'PersistentVolumeClaim', claimName, namespace)) ??
        (await kube.create({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: claimName, namespace },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        }));
      if (claim.status?.phase !== 'Bound') {
        const capacity = claim.spec?.resources?.requests ?? { storage: '1Gi' };
        await writeStatus(claim, { phase: 'Bound', accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'], capacity });
      }
      return claim.metadata?.uid;
    },
    expand: async (namespace: string, claimName: string) => {
      const claim = await kube.get('v1', 'PersistentVolumeClaim', claimName, namespace);
      const requested = claim?.spec?.resources?.requests?.storage;
      const capacity = claim?.status?.capacity?.storage;
      if (!claim || claim.status?.phase !== 'Bound' || requested === undefined || capacity === undefined) return;
      if (compareQuantities(requested, capacity) <= 0) return;
      await writeStatus(claim, { capacity: { ...claim.status.capacity, storage: requested } });
    },
  };
}
