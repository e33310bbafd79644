import { describe, expect, it } from 'vitest';
import { resolveServiceName, searchNames, serviceOfName } from '../../local/network/dns.js';
import { listenRules, readyBackends } from '../../local/network/rules.js';

type Rec = Record<string, any>;

const service = (name: string, namespace: string, spec: Rec, created = '2026-01-01T00:00:00Z'): Rec => ({
  metadata: { name, namespace, creationTimestamp: created },
  spec,
});

describe('cluster DNS names of Services', () => {
  const services = [
    service('redis-operator-service', 'redis-operator', { clusterIP: '127.96.4.5' }),
    service('redis-operator-service', 'other', { clusterIP: '127.96.9.9' }),
    service('nodes', 'cache', { clusterIP: 'None' }),
    service('db', 'cache', { type: 'ExternalName', externalName: 'db.example.com' }),
  ];
  const endpoints = [
    {
      metadata: { name: 'nodes', namespace: 'cache' },
      subsets: [{ addresses: [{ ip: '127.1.0.7' }, { ip: '127.1.0.8' }], notReadyAddresses: [{ ip: '127.1.0.9' }] }],
    },
  ];

  it('resolves every form a Pod may use to the cluster IP; a bare name needs the caller namespace', () => {
    for (const name of [
      'redis-operator-service.redis-operator',
      'redis-operator-service.redis-operator.svc',
      'redis-operator-service.redis-operator.svc.cluster.local',
      'redis-operator-service.redis-operator.svc.cluster.local.',
      'Redis-Operator-Service.redis-operator.SVC.cluster.local',
    ]) {
      expect(resolveServiceName(name, services), name).toEqual(['127.96.4.5']);
    }
    expect(resolveServiceName('redis-operator-service', services, { namespace: 'redis-operator' })).toEqual(['127.96.4.5']);
    expect(resolveServiceName('redis-operator-service', services, { namespace: 'other' })).toEqual(['127.96.9.9']);
    expect(resolveServiceName('redis-operator-service', services)).toEqual([]);
  });

  it('answers nothing for unknown names, ExternalName Services and names outside the cluster domain', () => {
    expect(resolveServiceName('missing.redis-operator', services)).toEqual([]);
    expect(resolveServiceName('db.cache', services)).toEqual([]);
    expect(resolveServiceName('example.com', services)).toEqual([]);
    expect(resolveServiceName('redis-operator-service.redis-operator.svc.other.domain', services)).toEqual([]);
  });

  it('resolves a headless Service to its ready endpoints', () => {
    expect(resolveServiceName('nodes', services, { namespace: 'cache', endpoints })).toEqual(['127.1.0.7', '127.1.0.8']);
  });

  it("tries the namespace's search path first, and names with five dots as they are first (ndots:5)", () => {
    expect(searchNames('a.b', 'ns')).toEqual(['a.b.ns.svc.cluster.local', 'a.b.svc.cluster.local', 'a.b.cluster.local', 'a.b']);
    expect(searchNames('a.b.c.d.e.f')[0]).toBe('a.b.c.d.e.f');
    expect(serviceOfName('a.b.svc.cluster.local')).toEqual({ name: 'a', namespace: 'b' });
    expect(serviceOfName('x.a.b.svc.cluster.local')).toBeUndefined();
  });
});

describe('what the proxy listens on', () => {
  const nodes = ['127.0.0.2', '127.0.0.3'];

  it('a ClusterIP Service on its cluster IP per TCP port; headless and ExternalName Services nowhere', () => {
    const { rules } = listenRules(
      [
        service('a', 'ns', {
          type: 'ClusterIP',
          clusterIP: '127.96.1.1',
          ports: [
            { name: 'redis', port: 6379, protocol: 'TCP' },
            { name: 'dns', port: 53, protocol: 'UDP' },
          ],
        }),
        service('h', 'ns', { clusterIP: 'None', ports: [{ port: 1 }] }),
        service('e', 'ns', { type: 'ExternalName', externalName: 'x' }),
      ],
      nodes,
      '127.0.0.1',
    );
    expect(rules.map((r) => [r.key, r.service, r.portName, r.via])).toEqual([['127.96.1.1:6379', 'ns/a', 'redis', 'clusterIP']]);
  });

  it('NodePort on every node and the host; LoadBalancer also on the host at its port', () => {
    const { rules } = listenRules(
      [
        service('np', 'ns', { type: 'NodePort', clusterIP: '127.96.1.2', ports: [{ port: 80, nodePort: 30080 }] }),
        service('lb', 'ns', { type: 'LoadBalancer', clusterIP: '127.96.1.3', ports: [{ port: 9090, nodePort: 31000 }] }),
      ],
      nodes,
      '127.0.0.1',
    );
    expect(rules.map((r) => r.key).sort()).toEqual(
      [
        '127.96.1.2:80',
        '127.0.0.2:30080',
        '127.0.0.3:30080',
        '127.0.0.1:30080',
        '127.96.1.3:9090',
        '127.0.0.2:31000',
        '127.0.0.3:31000',
        '127.0.0.1:31000',
        '127.0.0.1:9090',
      ].sort(),
    );
  });

  it('two load balancers on one port: the older Service keeps it, the other is a conflict', () => {
    const { rules, conflicts } = listenRules(
      [
        service(
          'new',
          'ns',
          { type: 'LoadBalancer', clusterIP: '127.96.1.5', ports: [{ port: 80, nodePort: 30002 }] },
          '2026-02-01T00:00:00Z',
        ),
        service(
          'old',
          'ns',
          { type: 'LoadBalancer', clusterIP: '127.96.1.4', ports: [{ port: 80, nodePort: 30001 }] },
          '2026-01-01T00:00:00Z',
        ),
      ],
      nodes,
      '127.0.0.1',
    );
    expect(rules.find((r) => r.key === '127.0.0.1:80')?.service).toBe('ns/old');
    expect(conflicts.map((c) => [c.service, c.key])).toEqual([['ns/new', '127.0.0.1:80']]);
  });

  it('backends are the ready addresses of the Endpoints port of the same name', () => {
    const ep = {
      subsets: [
        {
          addresses: [{ ip: '127.1.0.1' }],
          notReadyAddresses: [{ ip: '127.1.0.2' }],
          ports: [{ name: 'http', port: 8012, protocol: 'TCP' }],
        },
        { addresses: [{ ip: '127.1.0.3' }], ports: [{ name: 'other', port: 1, protocol: 'TCP' }] },
      ],
    };
    expect(readyBackends(ep, 'http')).toEqual([{ ip: '127.1.0.1', port: 8012 }]);
    expect(readyBackends(ep, '')).toEqual([]);
    expect(readyBackends(undefined, 'http')).toEqual([]);
  });
});
