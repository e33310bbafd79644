// The embedded API server driven by @kubernetes/client-node 1.4 over HTTP, as the functions drive it.
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kube, isTooManyRequests } from '../../shared/kube/index.js';
import { startTestApi, statusOf, testCrd, waitFor, type TestApi } from '../helpers/platform-api.js';

const G = { group: 'redis.redis', version: 'v1beta1', plural: 'redisclusters' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

let api: TestApi;
let core: CoreV1Api;
let custom: CustomObjectsApi;

async function failure(p: Promise<unknown>): Promise<{ code?: number; reason?: string; message?: string; details?: any }> {
  try {
    await p;
  } catch (err) {
    return { ...statusOf(err), code: (err as { code?: number }).code };
  }
  throw new Error('expected the call to fail');
}

function pod(name: string, labels: Record<string, string> = {}, extra: Partial<V1Pod['spec']> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: { containers: [{ name: 'redis', image: 'redis:7' }], ...extra },
  };
}

function cluster(name: string, spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'redis.redis/v1beta1',
    kind: 'RedisCluster',
    metadata: { name, namespace: 'cache' },
    spec: { image: 'redis:7', ...spec },
  };
}

beforeAll(async () => {
  api = await startTestApi();
  core = api.kc.makeApiClient(CoreV1Api);
  custom = api.kc.makeApiClient(CustomObjectsApi);
  // Through the generic client: the typed one would re-serialize the schema by its model and drop
  // the `x-kubernetes-*` and `default` keys of a plain object.
  await custom.createClusterCustomObject({
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    body: testCrd(),
  });
  const crds = await api.kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition();
  expect(crds.items[0]?.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
});

afterAll(async () => {
  await api?.close();
});

describe('CRUD and optimistic concurrency', () => {
  it('creates, reads, lists, replaces and deletes a ConfigMap', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c1' }, data: { a: '1' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const read = await core.readNamespacedConfigMap({ name: 'c1', namespace: 'default' });
    expect(read.data).toEqual({ a: '1' });
    const replaced = await core.replaceNamespacedConfigMap({
      name: 'c1',
      namespace: 'default',
      body: { ...read, data: { a: '2', b: '3' } },
    });
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));
    const list = await core.listNamespacedConfigMap({ namespace: 'default' });
    expect(list.items.map((c) => c.metadata?.name)).toEqual(['c1']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(replaced.metadata?.resourceVersion));
    const dup = await failure(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c1' } } }));
    expect(dup).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'configmaps "c1" already exists' });
    await core.deleteNamespacedConfigMap({ name: 'c1', namespace: 'default' });
    const gone = await failure(core.readNamespacedConfigMap({ name: 'c1', namespace: 'default' }));
    expect(gone).toMatchObject({ code: 404, reason: 'NotFound', message: 'configmaps "c1" not found' });
  });

  it('answers 409 Conflict to an update carrying a stale resourceVersion', async () => {
    const first = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c2' }, data: { n: '0' } } });
    await core.replaceNamespacedConfigMap({ name: 'c2', namespace: 'default', body: { ...first, data: { n: '1' } } });
    const stale = await failure(
      core.replaceNamespacedConfigMap({ name: 'c2', namespace: 'default', body: { ...first, data: { n: 'stale' } } }),
    );
    expect(stale.code).toBe(409);
    expect(stale.reason).toBe('Conflict');
    expect(stale.message).toContain('the object has been modified');
    const stalePatch = await failure(
      core.patchNamespacedConfigMap(
        { name: 'c2', namespace: 'default', body: { metadata: { resourceVersion: first.metadata!.resourceVersion }, data: { n: 'x' } } },
        merge,
      ),
    );
    expect(stalePatch.code).toBe(409);
    expect((await core.readNamespacedConfigMap({ name: 'c2', namespace: 'default' })).data).toEqual({ n: '1' });
  });

  it('pages a list with limit and continue', async () => {
    await core.createNamespace({ body: { metadata: { name: 'paged' } } });
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5'])
      await core.createNamespacedConfigMap({ namespace: 'paged', body: { metadata: { name: n } } });
    const first = await core.listNamespacedConfigMap({ namespace: 'paged', limit: 2 });
    expect(first.items.map((c) => c.metadata?.name)).toEqual(['p1', 'p2']);
    expect(first.metadata?.remainingItemCount).toBe(3);
    const second = await core.listNamespacedConfigMap({ namespace: 'paged', limit: 2, _continue: first.metadata!._continue });
    expect(second.items.map((c) => c.metadata?.name)).toEqual(['p3', 'p4']);
    const last = await core.listNamespacedConfigMap({ namespace: 'paged', limit: 2, _continue: second.metadata!._continue });
    expect(last.items.map((c) => c.metadata?.name)).toEqual(['p5']);
    expect(last.metadata?._continue).toBeUndefined();
  });

  it('generates names from generateName and rejects bad names with 422', async () => {
    const made = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { generateName: 'gen-' } } });
    expect(made.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    const bad = await failure(core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Bad_Name' } } }));
    expect(bad.code).toBe(422);
    expect(bad.details.causes[0].field).toBe('metadata.name');
    const noNs = await failure(core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }));
    expect(noNs).toMatchObject({ code: 404, message: 'namespaces "nowhere" not found' });
  });
});

describe('custom resources', () => {
  it('prunes unknown fields, applies defaults and serves the CRD in discovery', async () => {
    const objects = KubernetesObjectApi.makeApiClient(api.kc);
    const created = (await objects.create(
      cluster('defaults', { unknownField: 1, resources: { limits: { cpu: 1 } }, limits: { memory: '1Gi', cpu: 2 } }) as never,
    )) as any;
    expect(created.spec).toEqual({
      image: 'redis:7',
      masters: 3,
      replicas: 1,
      resources: { limits: { cpu: 1 } },
      limits: { memory: '1Gi', cpu: 2 },
    });
    expect(created.metadata.generation).toBe(1);
  });

  it('refuses a CRD it could not serve, naming the field', async () => {
    const crds = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions' };
    const broken = testCrd('broken.example');
    broken.metadata.name = 'wrong.broken.example';
    const misnamed = await failure(custom.createClusterCustomObject({ ...crds, body: broken }));
    expect(misnamed.code).toBe(422);
    expect(misnamed.details.causes[0].field).toBe('metadata.name');
    const noSchema = testCrd('noschema.example');
    delete noSchema.spec.versions[0].schema;
    const missing = await failure(custom.createClusterCustomObject({ ...crds, body: noSchema }));
    expect(missing.code).toBe(422);
    expect(missing.details.causes[0].field).toBe('spec.versions[0].schema.openAPIV3Schema');
    const res = await fetch(`${api.url}/apis/noschema.example/v1beta1`);
    expect(res.status).toBe(404);
  });

  it('rejects a schema violation with 422 Invalid naming the field, in Kubernetes words', async () => {
    const low = await failure(custom.createNamespacedCustomObject({ ...G, namespace: 'cache', body: cluster('bad', { masters: 2 }) }));
    expect(low.code).toBe(422);
    expect(low.reason).toBe('Invalid');
    expect(low.message).toBe(
      'RedisCluster.redis.redis "bad" is invalid: spec.masters: Invalid value: 2: spec.masters in body should be greater than or equal to 3',
    );
    expect(low.details.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        message: 'Invalid value: 2: spec.masters in body should be greater than or equal to 3',
        field: 'spec.masters',
      },
    ]);
    const several = await failure(
      custom.createNamespacedCustomObject({
        ...G,
        namespace: 'cache',
        body: { ...cluster('bad'), spec: { masters: 'many', maxMemory: '1tb' } },
      }),
    );
    expect(several.code).toBe(422);
    expect(several.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.image', 'spec.masters', 'spec.maxMemory']);
    expect(several.message).toContain('spec.image: Required value');
    expect(several.message).toContain(`spec.maxMemory: Invalid value: "1tb": spec.maxMemory in body should match '^[0-9]+(mb|gb)$'`);
    await expect(custom.getNamespacedCustomObject({ ...G, namespace: 'cache', name: 'bad' })).rejects.toMatchObject({ code: 404 });
  });

  it('keeps status and spec apart: generation moves with spec only', async () => {
    const created = (await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'cache',
      body: { ...cluster('gen'), status: { phase: 'Forged' } },
    })) as any;
    expect(created.status).toBeUndefined();
    expect(created.metadata.generation).toBe(1);

    const withStatus = (await custom.patchNamespacedCustomObjectStatus(
      { ...G, namespace: 'cache', name: 'gen', body: { status: { phase: 'Ready', readyMasters: 3 }, spec: { masters: 9 } } },
      merge,
    )) as any;
    expect(withStatus.status).toEqual({ phase: 'Ready', readyMasters: 3 });
    expect(withStatus.spec.masters).toBe(3);
    expect(withStatus.metadata.generation).toBe(1);

    const specChange = (await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'cache', name: 'gen', body: { spec: { masters: 4 }, status: { phase: 'Ignored' } } },
      merge,
    )) as any;
    expect(specChange.spec.masters).toBe(4);
    expect(specChange.status.phase).toBe('Ready');
    expect(specChange.metadata.generation).toBe(2);

    const labelOnly = (await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'cache', name: 'gen', body: { metadata: { labels: { a: 'b' } } } },
      merge,
    )) as any;
    expect(labelOnly.metadata.generation).toBe(2);
    expect(Number(labelOnly.metadata.resourceVersion)).toBeGreaterThan(Number(specChange.metadata.resourceVersion));

    const noop = (await custom.patchNamespacedCustomObject(
      { ...G, namespace: 'cache', name: 'gen', body: { spec: { masters: 4 } } },
      merge,
    )) as any;
    expect(noop.metadata.resourceVersion).toBe(labelOnly.metadata.resourceVersion);

    const badStatus = await failure(
      custom.patchNamespacedCustomObjectStatus(
        { ...G, namespace: 'cache', name: 'gen', body: { status: { readyMasters: 'three' } } },
        merge,
      ),
    );
    expect(badStatus.code).toBe(422);
    expect(badStatus.details.causes[0].field).toBe('status.readyMasters');
  });

  it('serves the scale subresource from the CRD paths and writes spec through it', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'cache', body: cluster('scaled', { masters: 3 }) });
    await custom.patchNamespacedCustomObjectStatus(
      { ...G, namespace: 'cache', name: 'scaled', body: { status: { readyMasters: 3, selector: 'app=redis,cluster=scaled' } } },
      merge,
    );
    const scale = (await custom.getNamespacedCustomObjectScale({ ...G, namespace: 'cache', name: 'scaled' })) as any;
    expect(scale).toMatchObject({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      spec: { replicas: 3 },
      status: { replicas: 3, selector: 'app=redis,cluster=scaled' },
    });

    const patched = (await custom.patchNamespacedCustomObjectScale(
      { ...G, namespace: 'cache', name: 'scaled', body: { spec: { replicas: 5 } } },
      merge,
    )) as any;
    expect(patched.spec.replicas).toBe(5);
    const after = (await custom.getNamespacedCustomObject({ ...G, namespace: 'cache', name: 'scaled' })) as any;
    expect(after.spec.masters).toBe(5);
    expect(after.metadata.generation).toBe(2);

    const replaced = (await custom.replaceNamespacedCustomObjectScale({
      ...G,
      namespace: 'cache',
      name: 'scaled',
      body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'scaled', namespace: 'cache' }, spec: { replicas: 6 } },
    })) as any;
    expect(replaced.spec.replicas).toBe(6);

    const tooFew = await failure(
      custom.patchNamespacedCustomObjectScale({ ...G, namespace: 'cache', name: 'scaled', body: { spec: { replicas: 2 } } }, merge),
    );
    expect(tooFew.code).toBe(422);
    expect(tooFew.details.causes[0].field).toBe('spec.masters');
    const stale = await failure(
      custom.replaceNamespacedCustomObjectScale({
        ...G,
        namespace: 'cache',
        name: 'scaled',
        body: { metadata: { name: 'scaled', resourceVersion: scale.metadata.resourceVersion }, spec: { replicas: 7 } },
      }),
    );
    expect(stale.code).toBe(409);
  });

  it('refuses strategic merge patch on custom resources with 415, as Kubernetes does', async () => {
    await custom.createNamespacedCustomObject({ ...G, namespace: 'cache', body: cluster('smp') });
    const refused = await failure(
      custom.patchNamespacedCustomObject({ ...G, namespace: 'cache', name: 'smp', body: { spec: { masters: 4 } } }, strategic),
    );
    expect(refused.code).toBe(415);
    expect(refused.reason).toBe('UnsupportedMediaType');
  });
});

describe('patches', () => {
  it('applies merge patch and JSON patch (the client default)', async () => {
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'p1', labels: { keep: 'y', drop: 'y' } }, data: { a: '1', b: '2' } },
    });
    const merged = await core.patchNamespacedConfigMap(
      { name: 'p1', namespace: 'default', body: { metadata: { labels: { drop: null } }, data: { b: null, c: '3' } } },
      merge,
    );
    expect(merged.metadata?.labels).toEqual({ keep: 'y' });
    expect(merged.data).toEqual({ a: '1', c: '3' });
    const jsonPatched = await core.patchNamespacedConfigMap({
      name: 'p1',
      namespace: 'default',
      body: [
        { op: 'replace', path: '/data/a', value: '10' },
        { op: 'add', path: '/data/d', value: '4' },
      ],
    });
    expect(jsonPatched.data).toEqual({ a: '10', c: '3', d: '4' });
    const failedTest = await failure(
      core.patchNamespacedConfigMap({
        name: 'p1',
        namespace: 'default',
        body: [
          { op: 'test', path: '/data/a', value: 'nope' },
          { op: 'remove', path: '/data/a' },
        ],
      }),
    );
    expect(failedTest.code).toBe(422);
    expect((await core.readNamespacedConfigMap({ name: 'p1', namespace: 'default' })).data?.a).toBe('10');
  });

  it('merges containers by name and env by name under strategic merge patch', async () => {
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'smp-pod' },
        spec: {
          containers: [
            {
              name: 'redis',
              image: 'redis:7',
              env: [
                { name: 'A', value: '1' },
                { name: 'B', value: '2' },
              ],
            },
            { name: 'exporter', image: 'exporter:1' },
          ],
        },
      },
    });
    const patched = await core.patchNamespacedPod(
      {
        name: 'smp-pod',
        namespace: 'default',
        body: {
          spec: {
            containers: [
              {
                name: 'redis',
                image: 'redis:7.2',
                env: [
                  { name: 'B', value: '3' },
                  { name: 'A', $patch: 'delete' },
                ],
              },
            ],
          },
        },
      },
      strategic,
    );
    expect(patched.spec?.containers.map((c) => [c.name, c.image])).toEqual([
      ['redis', 'redis:7.2'],
      ['exporter', 'exporter:1'],
    ]);
    expect(patched.spec?.containers[0]!.env).toEqual([{ name: 'B', value: '3' }]);
  });
});

describe('selectors', () => {
  it('filters lists by label selector and field selector', async () => {
    await core.createNamespace({ body: { metadata: { name: 'sel' } } });
    await core.createNamespacedPod({ namespace: 'sel', body: pod('a1', { app: 'a', tier: 'x' }) });
    await core.createNamespacedPod({ namespace: 'sel', body: pod('a2', { app: 'a', tier: 'y' }) });
    await core.createNamespacedPod({ namespace: 'sel', body: pod('a3', { app: 'a' }) });
    await core.createNamespacedPod({ namespace: 'sel', body: pod('b1', { app: 'b', tier: 'z' }) });
    await core.createNamespacedPodBinding({
      name: 'a2',
      namespace: 'sel',
      body: { metadata: { name: 'a2' }, target: { kind: 'Node', name: 'n1' } },
    });
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedPod({ namespace: 'sel', labelSelector, fieldSelector })).items.map((p) => p.metadata?.name);
    expect(await names('app=a')).toEqual(['a1', 'a2', 'a3']);
    expect(await names('app==a,tier!=x')).toEqual(['a2', 'a3']);
    expect(await names('tier in (x,z)')).toEqual(['a1', 'b1']);
    expect(await names('app=a,tier notin (y)')).toEqual(['a1', 'a3']);
    expect(await names('tier')).toEqual(['a1', 'a2', 'b1']);
    expect(await names('!tier')).toEqual(['a3']);
    expect(await names(undefined, 'metadata.name=b1')).toEqual(['b1']);
    expect(await names(undefined, 'spec.nodeName=n1')).toEqual(['a2']);
    expect(await names('app=a', 'spec.nodeName=')).toEqual(['a1', 'a3']);
    expect(await names(undefined, 'status.phase=Pending,metadata.name!=a1')).toEqual(['a2', 'a3', 'b1']);
    const all = await core.listPodForAllNamespaces({ fieldSelector: 'metadata.namespace=sel' });
    expect(all.items).toHaveLength(4);
    const bad = await failure(core.listNamespacedPod({ namespace: 'sel', labelSelector: 'a in b' }));
    expect(bad.code).toBe(400);
  });
});

describe('events', () => {
  it('serves one set of Events as core/v1 and as events.k8s.io/v1', async () => {
    const eventsV1 = api.kc.makeApiClient(EventsV1Api);
    const now = new Date();
    await eventsV1.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'new-style' },
        eventTime: now as never,
        reportingController: 'redis-operator',
        reportingInstance: 'reconcile-1',
        action: 'Reconcile',
        reason: 'Formed',
        regarding: { kind: 'RedisCluster', name: 'rc', namespace: 'default' },
        note: 'the cluster is formed',
        type: 'Normal',
      },
    });
    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { name: 'old-style' },
        involvedObject: { kind: 'Pod', name: 'p' },
        reason: 'Killing',
        message: 'stopping',
        type: 'Warning',
        count: 2,
      },
    });
    const asCore = await core.readNamespacedEvent({ name: 'new-style', namespace: 'default' });
    expect(asCore).toMatchObject({
      message: 'the cluster is formed',
      reason: 'Formed',
      involvedObject: { kind: 'RedisCluster', name: 'rc' },
      reportingComponent: 'redis-operator',
    });
    const asV1 = await eventsV1.readNamespacedEvent({ name: 'old-style', namespace: 'default' });
    expect(asV1).toMatchObject({
      apiVersion: 'events.k8s.io/v1',
      note: 'stopping',
      regarding: { kind: 'Pod', name: 'p' },
      deprecatedCount: 2,
      type: 'Warning',
    });
    const selected = await eventsV1.listNamespacedEvent({ namespace: 'default', fieldSelector: 'regarding.name=rc' });
    expect(selected.items.map((e) => e.metadata?.name)).toEqual(['new-style']);
    const patched = await eventsV1.patchNamespacedEvent({ name: 'old-style', namespace: 'default', body: { note: 'stopped' } }, merge);
    expect(patched.note).toBe('stopped');
    expect((await core.readNamespacedEvent({ name: 'old-style', namespace: 'default' })).message).toBe('stopped');
    await eventsV1.deleteNamespacedEvent({ name: 'old-style', namespace: 'default' });
    await expect(core.readNamespacedEvent({ name: 'old-style', namespace: 'default' })).rejects.toMatchObject({ code: 404 });
  });
});

describe('deletion', () => {
  it('keeps an object with finalizers until the last one is removed', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'cache',
      body: { ...cluster('fin'), metadata: { name: 'fin', namespace: 'cache', finalizers: ['redis.redis/cleanup'] } },
    });
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'cache', name: 'fin' });
    const marked = (await custom.getNamespacedCustomObject({ ...G, namespace: 'cache', name: 'fin' })) as any;
    expect(marked.metadata.deletionTimestamp).toMatch(/Z$/);
    expect(marked.metadata.finalizers).toEqual(['redis.redis/cleanup']);
    const adding = await failure(
      custom.patchNamespacedCustomObject(
        { ...G, namespace: 'cache', name: 'fin', body: { metadata: { finalizers: ['redis.redis/cleanup', 'other'] } } },
        merge,
      ),
    );
    expect(adding.code).toBe(422);
    await custom.patchNamespacedCustomObject({ ...G, namespace: 'cache', name: 'fin', body: { metadata: { finalizers: null } } }, merge);
    await expect(custom.getNamespacedCustomObject({ ...G, namespace: 'cache', name: 'fin' })).rejects.toMatchObject({ code: 404 });
  });

  it('collects dependents of a deleted owner, and orphans them when asked', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner' } } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true };
    await core.createNamespacedPod({
      namespace: 'default',
      body: { ...pod('dep-pod'), metadata: { name: 'dep-pod', ownerReferences: [ref] } },
    });
    await core.createNamespacedSecret({
      namespace: 'default',
      body: { metadata: { name: 'dep-secret', ownerReferences: [ref] }, stringData: { k: 'v' } },
    });
    const secret = await core.readNamespacedSecret({ name: 'dep-secret', namespace: 'default' });
    expect(secret.data).toEqual({ k: Buffer.from('v').toString('base64') });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default' });
    await waitFor('dependents collected', async () => {
      const pods = await core.listNamespacedPod({ namespace: 'default', fieldSelector: 'metadata.name=dep-pod' });
      const secrets = await core.listNamespacedSecret({ namespace: 'default', fieldSelector: 'metadata.name=dep-secret' });
      return pods.items.length === 0 && secrets.items.length === 0;
    });

    const owner2 = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner2' } } });
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: {
        metadata: { name: 'kept', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner2', uid: owner2.metadata!.uid! }] },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner2', namespace: 'default', propagationPolicy: 'Orphan' });
    await new Promise((r) => setTimeout(r, 600));
    const kept = await core.readNamespacedConfigMap({ name: 'kept', namespace: 'default' });
    expect(kept.metadata?.ownerReferences).toBeUndefined();
  });

  it('holds a foreground-deleted owner until its dependents are gone', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fg-owner' } } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'fg-owner', uid: owner.metadata!.uid!, blockOwnerDeletion: true };
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'fg-dep', ownerReferences: [ref], finalizers: ['test/hold'] } },
    });
    await core.deleteNamespacedConfigMap({ name: 'fg-owner', namespace: 'default', propagationPolicy: 'Foreground' });
    const held = await core.readNamespacedConfigMap({ name: 'fg-owner', namespace: 'default' });
    expect(held.metadata?.finalizers).toEqual(['foregroundDeletion']);
    const dep = await waitFor('the dependent marked for deletion', async () => {
      const d = await core.readNamespacedConfigMap({ name: 'fg-dep', namespace: 'default' });
      return d.metadata?.deletionTimestamp ? d : undefined;
    });
    expect(dep.metadata?.finalizers).toEqual(['test/hold']);
    await new Promise((r) => setTimeout(r, 400));
    expect((await core.readNamespacedConfigMap({ name: 'fg-owner', namespace: 'default' })).metadata?.name).toBe('fg-owner');
    await core.patchNamespacedConfigMap({ name: 'fg-dep', namespace: 'default', body: { metadata: { finalizers: null } } }, merge);
    await waitFor('owner gone', async () => {
      const left = await core.listNamespacedConfigMap({ namespace: 'default', fieldSelector: 'metadata.name=fg-owner' });
      return left.items.length === 0;
    });
  });

  it('deletes a collection by label selector and leaves the rest; dry runs change nothing', async () => {
    await core.createNamespace({ body: { metadata: { name: 'coll' } } });
    for (const [name, tier] of [
      ['k1', 'a'],
      ['k2', 'a'],
      ['k3', 'b'],
    ]) {
      await core.createNamespacedConfigMap({ namespace: 'coll', body: { metadata: { name, labels: { tier: tier! } } } });
    }
    await core.createNamespacedConfigMap({ namespace: 'coll', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    await core.deleteNamespacedConfigMap({ name: 'k3', namespace: 'coll', dryRun: 'All' });
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'coll', labelSelector: 'tier=a' });
    const left = await core.listNamespacedConfigMap({ namespace: 'coll' });
    expect(left.items.map((c) => c.metadata?.name)).toEqual(['k3']);
  });

  it('deletes a bound Pod gracefully: it stays until deleted with grace 0', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('graceful') });
    await core.createNamespacedPodBinding({
      name: 'graceful',
      namespace: 'default',
      body: { metadata: { name: 'graceful' }, target: { kind: 'Node', name: 'local-node-1' } },
    });
    const twice = await failure(
      core.createNamespacedPodBinding({
        name: 'graceful',
        namespace: 'default',
        body: { metadata: { name: 'graceful' }, target: { kind: 'Node', name: 'local-node-2' } },
      }),
    );
    expect(twice.code).toBe(409);
    await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default', gracePeriodSeconds: 20 });
    const terminating = await core.readNamespacedPod({ name: 'graceful', namespace: 'default' });
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(20);
    expect(terminating.spec?.nodeName).toBe('local-node-1');
    await core.deleteNamespacedPod({ name: 'graceful', namespace: 'default', gracePeriodSeconds: 0 });
    await expect(core.readNamespacedPod({ name: 'graceful', namespace: 'default' })).rejects.toMatchObject({ code: 404 });

    await core.createNamespacedPod({ namespace: 'default', body: pod('unbound') });
    await core.deleteNamespacedPod({ name: 'unbound', namespace: 'default' });
    await expect(core.readNamespacedPod({ name: 'unbound', namespace: 'default' })).rejects.toMatchObject({ code: 404 });
  });

  it('removes a terminating Pod no kubelet finished, a margin after its grace period', async () => {
    await core.createNamespacedPod({ namespace: 'default', body: pod('abandoned') });
    await core.createNamespacedPodBinding({
      name: 'abandoned',
      namespace: 'default',
      body: { metadata: { name: 'abandoned' }, target: { kind: 'Node', name: 'nowhere' } },
    });
    const began = Date.now();
    await core.deleteNamespacedPod({ name: 'abandoned', namespace: 'default', gracePeriodSeconds: 1 });
    expect((await core.readNamespacedPod({ name: 'abandoned', namespace: 'default' })).metadata?.deletionGracePeriodSeconds).toBe(1);
    await waitFor(
      'the Pod removed',
      async () => (await core.listNamespacedPod({ namespace: 'default', fieldSelector: 'metadata.name=abandoned' })).items.length === 0,
      15_000,
      200,
    );
    expect(Date.now() - began).toBeGreaterThanOrEqual(5_000);
  });

  it('keeps PodDisruptionBudget status and refuses an eviction the budget cannot spare', async () => {
    await core.createNamespace({ body: { metadata: { name: 'budget' } } });
    for (const name of ['e1', 'e2', 'e3']) {
      await core.createNamespacedPod({ namespace: 'budget', body: pod(name, { app: 'e' }) });
      await core.createNamespacedPodBinding({
        name,
        namespace: 'budget',
        body: { metadata: { name }, target: { kind: 'Node', name: 'local-node-1' } },
      });
      await core.patchNamespacedPodStatus(
        { name, namespace: 'budget', body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } } },
        merge,
      );
    }
    await api.kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
      namespace: 'budget',
      body: { metadata: { name: 'e-pdb' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'e' } } } },
    });
    const status = await waitFor('the budget status', async () => {
      const pdb = await api.kc.makeApiClient(PolicyV1Api).readNamespacedPodDisruptionBudget({ name: 'e-pdb', namespace: 'budget' });
      return pdb.status?.expectedPods === 3 ? pdb.status : undefined;
    });
    expect(status).toMatchObject({ currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 });

    await core.createNamespacedPodEviction({ name: 'e1', namespace: 'budget', body: { metadata: { name: 'e1', namespace: 'budget' } } });
    expect((await core.readNamespacedPod({ name: 'e1', namespace: 'budget' })).metadata?.deletionTimestamp).toBeInstanceOf(Date);
    const refused = await failure(
      core.createNamespacedPodEviction({ name: 'e2', namespace: 'budget', body: { metadata: { name: 'e2', namespace: 'budget' } } }),
    );
    expect(refused).toMatchObject({
      code: 429,
      reason: 'TooManyRequests',
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
    });
    expect(refused.details.causes[0].message).toBe('The disruption budget e-pdb needs 2 healthy pods and has 2 currently');
    expect((await core.readNamespacedPod({ name: 'e2', namespace: 'budget' })).metadata?.deletionTimestamp).toBeUndefined();

    // The operator's own call (a rolling update's restart) sees the refusal as such, and leaves the Pod.
    const kube = new Kube(api.kc);
    const operatorRefused = await kube.evictPod('budget', 'e3').then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isTooManyRequests(operatorRefused)).toBe(true);
    expect((await core.readNamespacedPod({ name: 'e3', namespace: 'budget' })).metadata?.deletionTimestamp).toBeUndefined();
    await expect(kube.evictPod('budget', 'absent')).resolves.toBeUndefined();
  });

  it('empties a deleted namespace before removing it', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'x' } } });
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: 'doomed',
      body: { ...cluster('rc'), metadata: { name: 'rc', namespace: 'doomed' } },
    });
    await core.deleteNamespace({ name: 'doomed' });
    const refused = await failure(
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }).catch((e) => {
        throw e;
      }),
    );
    expect([403, 404]).toContain(refused.code);
    await waitFor('namespace removed', async () => {
      try {
        await core.readNamespace({ name: 'doomed' });
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });
    expect((await custom.listClusterCustomObject({ ...G })) as any).toSatisfy((l: any) =>
      l.items.every((i: any) => i.metadata.namespace !== 'doomed'),
    );
    const protectedNs = await failure(core.deleteNamespace({ name: 'default' }));
    expect(protectedNs.code).toBe(403);
  });
});
