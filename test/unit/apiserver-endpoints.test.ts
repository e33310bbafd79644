import { describe, expect, it } from 'vitest';
import { endpointSubsets, resolveTargetPort } from '../../local/apiserver/controllers/endpoints.js';

type Rec = Record<string, any>;

function pod(name: string, ip: string | undefined, ready: boolean, extra: Rec = {}): Rec {
  return {
    metadata: { name, namespace: 'cache', uid: `uid-${name}`, labels: { app: 'redis' }, ...extra.metadata },
    spec: { nodeName: 'local-node-1', containers: [{ name: 'redis', ports: [{ name: 'client', containerPort: 7000, protocol: 'TCP' }] }] },
    status: { phase: extra.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

const service = (spec: Rec): Rec => ({ metadata: { name: 'redis', namespace: 'cache' }, spec: { selector: { app: 'redis' }, ...spec } });

describe('Endpoints of a Service', () => {
  it('lists ready Pods in addresses and the others in notReadyAddresses, sorted, with a reference to each Pod', () => {
    const pods = [pod('b', '127.1.0.10', true), pod('a', '127.1.0.9', true), pod('c', '127.1.0.11', false)];
    const subsets = endpointSubsets(service({ ports: [{ name: 'redis', port: 6379, targetPort: 7000, protocol: 'TCP' }] }), pods);
    expect(subsets).toEqual([
      {
        addresses: [
          { ip: '127.1.0.9', nodeName: 'local-node-1', targetRef: { kind: 'Pod', namespace: 'cache', name: 'a', uid: 'uid-a' } },
          { ip: '127.1.0.10', nodeName: 'local-node-1', targetRef: { kind: 'Pod', namespace: 'cache', name: 'b', uid: 'uid-b' } },
        ],
        notReadyAddresses: [
          { ip: '127.1.0.11', nodeName: 'local-node-1', targetRef: { kind: 'Pod', namespace: 'cache', name: 'c', uid: 'uid-c' } },
        ],
        ports: [{ name: 'redis', port: 7000, protocol: 'TCP' }],
      },
    ]);
  });

  it('leaves out Pods without an address, terminating or finished, of another namespace or not selected', () => {
    const pods = [
      pod('none', undefined, true),
      pod('gone', '127.1.0.2', true, { metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' } }),
      pod('done', '127.1.0.3', true, { phase: 'Succeeded' }),
      pod('other', '127.1.0.4', true, { metadata: { namespace: 'elsewhere' } }),
      pod('unlabelled', '127.1.0.5', true, { metadata: { labels: { app: 'web' } } }),
    ];
    expect(endpointSubsets(service({ ports: [{ port: 6379 }] }), pods)).toEqual([]);
  });

  it('resolves a named targetPort from the container ports, skipping Pods that do not declare it', () => {
    const p = pod('a', '127.1.0.9', true);
    expect(resolveTargetPort(p, { port: 80, targetPort: 'client', protocol: 'TCP' })).toBe(7000);
    expect(resolveTargetPort(p, { port: 80, targetPort: 'client', protocol: 'UDP' })).toBeUndefined();
    expect(resolveTargetPort(p, { port: 80, targetPort: 8080 })).toBe(8080);
    const bare = { ...pod('b', '127.1.0.10', true), spec: { containers: [{ name: 'x' }] } };
    const subsets = endpointSubsets(service({ ports: [{ port: 80, targetPort: 'client', protocol: 'TCP' }] }), [p, bare]);
    expect(subsets.map((s) => s.addresses.map((a: Rec) => a.ip))).toEqual([['127.1.0.9']]);
  });

  it('publishNotReadyAddresses lists every Pod as ready (what headless Redis Services ask for)', () => {
    const subsets = endpointSubsets(service({ clusterIP: 'None', publishNotReadyAddresses: true, ports: [{ port: 6379 }] }), [
      pod('a', '127.1.0.9', false),
    ]);
    expect(subsets[0]!.addresses.map((a: Rec) => a.ip)).toEqual(['127.1.0.9']);
    expect(subsets[0]!.notReadyAddresses).toBeUndefined();
  });
});
