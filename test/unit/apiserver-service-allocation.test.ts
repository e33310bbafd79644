import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../local/apiserver/errors.js';
import { pickFree, ServiceAllocator, staticBand } from '../../local/apiserver/service-allocation.js';
import { Store, type Obj } from '../../local/apiserver/store.js';

let uids = 0;
const svc = (name: string, spec: Obj['spec']): Obj => ({ metadata: { name, namespace: 'cache', uid: `uid-${++uids}` }, spec });

/** Admits and stores a new Service, as the API server does on create. */
function create(store: Store, alloc: ServiceAllocator, o: Obj): Obj {
  alloc.admitCreate(o);
  return store.put('/services', o, 'ADDED');
}

function update(store: Store, alloc: ServiceAllocator, existing: Obj, spec: Obj['spec']): Obj {
  const next = { metadata: { ...existing.metadata }, spec: structuredClone(spec) };
  alloc.admitUpdate(existing, next);
  return store.put('/services', next, 'MODIFIED', existing);
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as ApiError).code).toBe(422);
    return (err as ApiError).message;
  }
  throw new Error('expected a 422');
}

const ipNumber = (ip: string): number => ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);

describe('Service defaults and allocation on create', () => {
  it('fills the defaults kube-apiserver fills and picks a cluster IP above the static band', () => {
    const store = new Store(100);
    const o = create(store, new ServiceAllocator(store), svc('a', { selector: { app: 'x' }, ports: [{ port: 6379 }] }));
    expect(o.spec).toMatchObject({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      clusterIPs: [o.spec.clusterIP],
    });
    expect(o.spec.ports[0]).toEqual({ port: 6379, protocol: 'TCP', targetPort: 6379 });
    expect(o.status).toEqual({ loadBalancer: {} });
    // 127.96.0.1 .. 127.96.1.0 are kept for requested addresses.
    expect(ipNumber(o.spec.clusterIP)).toBeGreaterThan(ipNumber('127.96.1.0'));
    expect(ipNumber(o.spec.clusterIP)).toBeLessThan(ipNumber('127.96.255.255'));
  });

  it('gives a requested free address, and refuses a taken or foreign one as kube-apiserver words it', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store);
    expect(create(store, alloc, svc('a', { clusterIP: '127.96.0.10', ports: [{ port: 80 }] })).spec.clusterIPs).toEqual(['127.96.0.10']);
    expect(refusal(() => alloc.admitCreate(svc('b', { clusterIP: '127.96.0.10', ports: [{ port: 80 }] })))).toBe(
      'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"127.96.0.10"}: failed to allocate IP 127.96.0.10: provided IP is already allocated',
    );
    expect(refusal(() => alloc.admitCreate(svc('c', { clusterIP: '10.0.0.1', ports: [{ port: 80 }] })))).toBe(
      'Service "c" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. The range of valid IPs is 127.96.0.0/16',
    );
    expect(refusal(() => alloc.admitCreate(svc('d', { clusterIP: 'nope', ports: [{ port: 80 }] })))).toContain(
      'spec.clusterIPs[0]: Invalid value: "nope": must be a valid IP address',
    );
  });

  it('leaves headless Services without an address; a selector-less one asks for both families', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store);
    const headless = create(store, alloc, svc('h', { clusterIP: 'None', selector: { app: 'x' } }));
    expect(headless.spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'], ipFamilyPolicy: 'SingleStack' });
    expect(create(store, alloc, svc('g', { clusterIP: 'None' })).spec.ipFamilyPolicy).toBe('RequireDualStack');
  });

  it('allocates node ports for NodePort and LoadBalancer, and checks requested ones', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store);
    const np = create(store, alloc, svc('np', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }));
    expect(np.spec).toMatchObject({ externalTrafficPolicy: 'Cluster', ports: [{ nodePort: 30080 }] });
    const lb = create(store, alloc, svc('lb', { type: 'LoadBalancer', ports: [{ port: 9090 }] }));
    expect(lb.spec.allocateLoadBalancerNodePorts).toBe(true);
    expect(lb.spec.ports[0].nodePort).toBeGreaterThanOrEqual(30086);
    expect(lb.spec.ports[0].nodePort).toBeLessThanOrEqual(32767);
    expect(refusal(() => alloc.admitCreate(svc('x', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })))).toBe(
      'Service "x" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated',
    );
    expect(refusal(() => alloc.admitCreate(svc('y', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] })))).toBe(
      'Service "y" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767',
    );
    expect(refusal(() => alloc.admitCreate(svc('z', { ports: [{ port: 80, nodePort: 30001 }] })))).toBe(
      'Service "z" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is \'ClusterIP\'',
    );
  });

  it('refuses what ValidateService refuses: no ports, unnamed ports among several, an unknown type', () => {
    const alloc = new ServiceAllocator(new Store(100));
    expect(refusal(() => alloc.admitCreate(svc('p', {})))).toBe('Service "p" is invalid: spec.ports: Required value');
    expect(refusal(() => alloc.admitCreate(svc('q', { ports: [{ port: 1 }, { port: 2, name: 'b' }] })))).toBe(
      'Service "q" is invalid: spec.ports[0].name: Required value',
    );
    expect(refusal(() => alloc.admitCreate(svc('r', { type: 'Nope', ports: [{ port: 1 }] })))).toContain(
      'spec.type: Unsupported value: "Nope": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
  });
});

describe('Service updates', () => {
  it('keeps allocated values the update leaves out, and refuses a changed cluster IP', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store);
    const a = create(store, alloc, svc('a', { type: 'NodePort', ports: [{ name: 'http', port: 80 }] }));
    const b = update(store, alloc, a, { type: 'NodePort', ports: [{ name: 'http', port: 80 }] });
    expect(b.spec.clusterIP).toBe(a.spec.clusterIP);
    expect(b.spec.ports[0].nodePort).toBe(a.spec.ports[0].nodePort);
    expect(refusal(() => update(store, alloc, b, { ...b.spec, clusterIP: '127.96.0.20' }))).toBe(
      'Service "a" is invalid: spec.clusterIPs[0]: Invalid value: []string{"127.96.0.20"}: may not change once set',
    );
  });

  it('ClusterIP -> NodePort allocates node ports; NodePort -> ClusterIP releases them', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store);
    const a = create(store, alloc, svc('a', { ports: [{ port: 80 }] }));
    const asNodePort = update(store, alloc, a, { ...a.spec, type: 'NodePort', ports: [{ port: 80, nodePort: 30500 }] });
    expect(asNodePort.spec.ports[0].nodePort).toBe(30500);
    const other = svc('b', { type: 'NodePort', ports: [{ port: 80, nodePort: 30500 }] });
    expect(refusal(() => alloc.admitCreate(structuredClone(other)))).toContain('provided port is already allocated');
    const back = update(store, alloc, asNodePort, { ...asNodePort.spec, type: 'ClusterIP' });
    expect(back.spec.ports[0].nodePort).toBeUndefined();
    expect(back.spec.externalTrafficPolicy).toBeUndefined();
    expect(create(store, alloc, other).spec.ports[0].nodePort).toBe(30500);
  });

  it('a deleted Service frees its address, and a restart from the state file knows what is held', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'service-alloc-'));
    try {
      const file = join(dir, 'state.json');
      const store = new Store(100, file);
      const kept = create(store, new ServiceAllocator(store), svc('kept', { clusterIP: '127.96.0.30', ports: [{ port: 1 }] }));
      const gone = create(store, new ServiceAllocator(store), svc('gone', { clusterIP: '127.96.0.31', ports: [{ port: 1 }] }));
      store.remove('/services', gone);
      await store.flush();
      const restarted = new Store(100, file);
      const alloc = new ServiceAllocator(restarted);
      expect(refusal(() => alloc.admitCreate(svc('again', { clusterIP: kept.spec.clusterIP, ports: [{ port: 1 }] })))).toContain(
        'provided IP is already allocated',
      );
      expect(create(restarted, alloc, svc('reuse', { clusterIP: '127.96.0.31', ports: [{ port: 1 }] })).spec.clusterIP).toBe('127.96.0.31');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a custom range is honoured, and a range the host cannot bind is refused at start', () => {
    const store = new Store(100);
    const alloc = new ServiceAllocator(store, { clusterIpRange: '127.50.0.0/24', nodePortRange: '40000-40001' });
    const o = create(store, alloc, svc('a', { type: 'NodePort', ports: [{ port: 1 }] }));
    expect(o.spec.clusterIP).toMatch(/^127\.50\.0\.\d+$/);
    expect([40000, 40001]).toContain(o.spec.ports[0].nodePort);
    expect(() => new ServiceAllocator(store, { clusterIpRange: '10.96.0.0/16' })).toThrow(/inside 127\.0\.0\.0\/8/);
  });
});

describe('picking free values', () => {
  it('sizes the static band as Kubernetes does: min(max(min, size/step), max)', () => {
    expect(staticBand(65534, 16, 256, 16)).toBe(256);
    expect(staticBand(2768, 16, 128, 32)).toBe(86);
    expect(staticBand(14, 16, 256, 16)).toBe(0);
  });

  it('takes the upper band first, then the lower one, and reports a full range', () => {
    const used = new Set([4, 5, 6, 7, 8, 9]);
    expect(
      pickFree(
        10,
        4,
        (i) => used.has(i),
        () => 0.5,
      ),
    ).toBeLessThan(4);
    expect(
      pickFree(
        10,
        4,
        (i) => i >= 4 && i !== 6,
        () => 0,
      ),
    ).toBe(6);
    expect(pickFree(3, 1, () => true)).toBeUndefined();
  });
});
