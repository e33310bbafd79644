import { describe, expect, it } from 'vitest';
import { admitCustom, prepareCreate, prepareUpdate } from '../../local/apiserver/admission.js';
import { crdTypes } from '../../local/apiserver/crds.js';
import { ApiError } from '../../local/apiserver/errors.js';
import { ResourceTable, type ResourceType } from '../../local/apiserver/resources.js';
import { ServiceAllocator } from '../../local/apiserver/service-allocation.js';
import { Store, type Obj } from '../../local/apiserver/store.js';

const table = new ResourceTable();
const core = (plural: string): ResourceType => table.find('', 'v1', plural)!;

function created(plural: string, o: Obj, store = new Store(100)): Obj {
  prepareCreate(core(plural), o, new ServiceAllocator(store), store);
  return o;
}

describe('defaults of built-in kinds on create', () => {
  it('a Pod: container defaults, scheduler, restart policy, grace period, Pending', () => {
    const pod = created('pods', {
      metadata: { name: 'p' },
      spec: {
        containers: [
          { name: 'redis', image: 'redis:7.2', ports: [{ containerPort: 6379 }] },
          { name: 'x', image: 'busybox' },
        ],
      },
    });
    expect(pod.spec.containers[0]).toMatchObject({
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
    });
    expect(pod.spec.containers[0].ports[0].protocol).toBe('TCP');
    expect(pod.spec.containers[1].imagePullPolicy).toBe('Always');
    expect(pod.spec).toMatchObject({
      schedulerName: 'default-scheduler',
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
    });
    expect(pod.status).toEqual({ phase: 'Pending' });
  });

  it('a Pod without containers, or a container without name or image, is refused naming the fields', () => {
    const refused = (spec: Record<string, unknown>) => {
      try {
        created('pods', { metadata: { name: 'p' }, spec });
      } catch (err) {
        expect((err as ApiError).code).toBe(422);
        return (err as ApiError).details?.causes?.map((c) => c.field);
      }
      return undefined;
    };
    expect(refused({})).toEqual(['spec.containers']);
    expect(refused({ containers: [{ image: 'redis' }, { name: 'b' }] })).toEqual(['spec.containers[0].name', 'spec.containers[1].image']);
  });

  it('a Service gets a cluster IP no other Service holds', () => {
    const store = new Store(100);
    const first = created('services', { metadata: { name: 'a', namespace: 'cache' }, spec: { ports: [{ port: 6379 }] } }, store);
    expect(first.spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None', clusterIPs: [first.spec.clusterIP] });
    expect(first.spec.ports[0]).toEqual({ port: 6379, protocol: 'TCP', targetPort: 6379 });
    store.put('/services', first, 'ADDED');
    // A new allocator (as after a restart) skips the address already held.
    const second = created('services', { metadata: { name: 'b', namespace: 'cache' }, spec: { ports: [{ port: 80 }] } }, store);
    expect(second.spec.clusterIP).not.toBe(first.spec.clusterIP);
    const headless = created('services', { metadata: { name: 'h', namespace: 'cache' }, spec: { clusterIP: 'None' } }, store);
    expect(headless.spec.clusterIP).toBe('None');
  });

  it('a Namespace is labelled with its name and Active; a Secret folds stringData into data', () => {
    const ns = created('namespaces', { metadata: { name: 'cache' } });
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'cache' });
    expect(ns.status).toEqual({ phase: 'Active' });
    const secret = created('secrets', { metadata: { name: 's' }, data: { a: 'eA==' }, stringData: { password: 'pw' } });
    expect(secret.data).toEqual({ a: 'eA==', password: Buffer.from('pw').toString('base64') });
    expect(secret.stringData).toBeUndefined();
    expect(secret.type).toBe('Opaque');
  });
});

describe('updates of built-in kinds', () => {
  it('keep a bound Pod on its node and a Service on its cluster IP', () => {
    const pod = { metadata: { name: 'p' }, spec: { nodeName: 'elsewhere' } };
    const store = new Store(100);
    const services = new ServiceAllocator(store);
    prepareUpdate(core('pods'), { metadata: { name: 'p' }, spec: { nodeName: 'local-node-1' } }, pod, services, store);
    expect(pod.spec.nodeName).toBe('local-node-1');
    const svc: Obj = { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
    const stored = { metadata: { name: 's' }, spec: { clusterIP: '127.96.0.11', clusterIPs: ['127.96.0.11'], ports: [{ port: 80 }] } };
    prepareUpdate(core('services'), stored, svc, services, store);
    expect(svc.spec).toMatchObject({ clusterIP: '127.96.0.11', clusterIPs: ['127.96.0.11'], type: 'ClusterIP' });
  });
});

describe('custom resource admission', () => {
  const [widget] = crdTypes({
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', properties: { masters: { type: 'integer', minimum: 3, default: 3 } } } },
            },
          },
        },
      ],
    },
  });
  const widgetObj = (spec: Record<string, unknown>): Obj => ({
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w' },
    spec,
  });

  it('applies defaults and prunes unknown fields, warning about them unless told to ignore', () => {
    const o = widgetObj({ colour: 'red' });
    expect(admitCustom(widget!, o, undefined)).toEqual(['unknown field "spec.colour"']);
    expect(o.spec).toEqual({ masters: 3 });
    expect(admitCustom(widget!, widgetObj({ colour: 'red' }), 'Ignore')).toEqual([]);
  });

  it('refuses unknown fields under Strict, and values the schema does not allow', () => {
    expect(() => admitCustom(widget!, widgetObj({ colour: 'red' }), 'Strict')).toThrow(
      /strict decoding error: unknown field "spec.colour"/,
    );
    expect(() => admitCustom(widget!, widgetObj({ masters: 1 }), undefined)).toThrow(ApiError);
  });

  it('leaves built-in kinds alone', () => {
    const cm = { metadata: { name: 'c' }, whatever: 1 };
    expect(admitCustom(core('configmaps'), cm, 'Strict')).toEqual([]);
    expect(cm).toEqual({ metadata: { name: 'c' }, whatever: 1 });
  });
});
