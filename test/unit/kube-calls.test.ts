// The reading of Kubernetes API calls out of source text, which the chart's RBAC test relies on.
import { describe, expect, it } from 'vitest';
import { definitionsIn, grantKeys, grantsOf, grantsOfMethod } from '../helpers/kube-calls.js';

const CR: [string, string] = ['redis.redis', 'redisclusters'];

describe('grantsOfMethod', () => {
  it('maps typed client methods to their group, resource and verb', () => {
    expect(grantsOfMethod('readNamespacedPod', CR)).toEqual([{ apiGroup: '', resource: 'pods', verb: 'get' }]);
    expect(grantsOfMethod('listNamespacedPersistentVolumeClaim', CR)).toEqual([
      { apiGroup: '', resource: 'persistentvolumeclaims', verb: 'list' },
    ]);
    expect(grantsOfMethod('replaceNamespacedLease', CR)).toEqual([{ apiGroup: 'coordination.k8s.io', resource: 'leases', verb: 'update' }]);
    expect(grantsOfMethod('createNamespacedEvent', CR)).toEqual([{ apiGroup: '', resource: 'events', verb: 'create' }]);
  });

  it('names the custom resource and its subresources for the custom-object methods', () => {
    expect(grantsOfMethod('listClusterCustomObject', CR)).toEqual([{ apiGroup: 'redis.redis', resource: 'redisclusters', verb: 'list' }]);
    expect(grantsOfMethod('patchNamespacedCustomObjectStatus', CR)).toEqual([
      { apiGroup: 'redis.redis', resource: 'redisclusters/status', verb: 'patch' },
    ]);
  });

  it('ignores methods that are no API call', () => {
    expect(grantsOfMethod('getTime', CR)).toEqual([]);
    expect(grantsOfMethod('replace', CR)).toEqual([]);
    expect(grantsOfMethod('set', CR)).toEqual([]);
  });
});

describe('grantsOf', () => {
  const shared = definitionsIn(`export async function readThing(kube: Kube) {
  return kube.core.readNamespacedSecret({ name, namespace });
}
export class Kube {
  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.objects.create(obj);
  }
  async unused(): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace });
  }
}
`);

  it('follows calls into the shared definitions, generic object calls on the kinds the function builds', () => {
    const own = [
      `await readThing(kube); await kube.apply<V1Service>({ kind: 'Service' }); await kube.core.listNamespacedPod({ namespace });`,
    ];
    expect(grantKeys(grantsOf(own, shared, CR))).toEqual(['/pods:list', '/secrets:get', '/services:create']);
  });

  it('adds nothing for shared definitions the function never calls', () => {
    expect(grantsOf(['const x = 1;'], shared, CR)).toEqual([]);
  });
});
