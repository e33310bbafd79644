import { describe, expect, it } from 'vitest';
import type { NodeReport } from '../../shared/redis/types.js';
import {
  askOrder,
  basePortOf,
  cacheKey,
  endpointText,
  isRolling,
  passwordRefOf,
  pickCluster,
  snapshotOf,
  statusNodesOf,
  type ClusterObject,
} from '../../functions/discovery/lookup.js';

const rc = (namespace: string, over: Partial<ClusterObject> = {}): ClusterObject => ({ metadata: { name: 'rc', namespace }, ...over });

describe('cacheKey', () => {
  it('keeps a lookup in one namespace apart from the same name in any namespace', () => {
    expect(cacheKey({ clusterName: 'rc', namespace: 'cache' })).toBe('cache/rc');
    expect(cacheKey({ clusterName: 'rc' })).toBe('*/rc');
  });
});

describe('pickCluster', () => {
  it('names where it looked when nothing is found', () => {
    expect(pickCluster({ clusterName: 'rc', namespace: 'cache' }, [])).toEqual({
      kind: 'not-found',
      message: 'RedisCluster "rc" not found in namespace "cache"',
    });
    expect(pickCluster({ clusterName: 'rc' }, [])).toEqual({ kind: 'not-found', message: 'RedisCluster "rc" not found in any namespace' });
  });

  it('refuses to choose between namespaces, listing them sorted', () => {
    expect(pickCluster({ clusterName: 'rc' }, [rc('web'), rc('cache')])).toEqual({ kind: 'ambiguous', namespaces: ['cache', 'web'] });
  });

  it('reads the one cluster in its own namespace, else the asked one, else default', () => {
    const one = rc('cache');
    expect(pickCluster({ clusterName: 'rc' }, [one])).toEqual({ kind: 'found', cluster: one, namespace: 'cache' });
    expect(pickCluster({ clusterName: 'rc', namespace: 'web' }, [{}])).toMatchObject({ kind: 'found', namespace: 'web' });
    expect(pickCluster({ clusterName: 'rc' }, [{}])).toMatchObject({ kind: 'found', namespace: 'default' });
  });
});

describe('what a read takes from the RedisCluster', () => {
  it('keeps only status nodes with an address, a role and an id', () => {
    const good = { id: 'a', ip: '10.0.0.1', port: 10000, role: 'master' };
    const cluster = rc('cache', {
      status: {
        nodes: [good, null, 'x', { ...good, port: '1' }, { ...good, role: 'leader' }, { ip: '10.0.0.2', port: 1, role: 'replica' }],
      },
    });
    expect(statusNodesOf(cluster)).toEqual([good]);
    expect(statusNodesOf(rc('cache', { status: { nodes: 'none' } }))).toEqual([]);
  });

  it('takes basePort only as a whole number, else the default', () => {
    expect(basePortOf(rc('cache', { spec: { basePort: 7000 } }))).toBe(7000);
    const fallback = basePortOf(rc('cache'));
    expect(basePortOf(rc('cache', { spec: { basePort: 7000.5 } }))).toBe(fallback);
    expect(basePortOf(rc('cache', { spec: { basePort: '7000' } }))).toBe(fallback);
    expect(fallback).not.toBe(7000);
  });

  it('reads the password Secret reference, with the default key when none is named', () => {
    expect(passwordRefOf(rc('cache'))).toBeUndefined();
    expect(passwordRefOf(rc('cache', { spec: { passwordSecret: { key: 'k' } } }))).toBeUndefined();
    expect(passwordRefOf(rc('cache', { spec: { passwordSecret: { name: 's', key: 'k' } } }))).toEqual({ name: 's', key: 'k' });
    const { key } = passwordRefOf(rc('cache', { spec: { passwordSecret: { name: 's' } } }))!;
    expect(key).toEqual(expect.any(String));
    expect(key).not.toBe('');
  });
});

describe('isRolling', () => {
  it('is true while the RollingUpdate condition is True, whatever else the status holds', () => {
    const withConditions = (conditions: unknown) =>
      rc('cache', { metadata: { generation: 2 }, status: { conditions, observedGeneration: 2 } });
    expect(isRolling(withConditions([{ type: 'RollingUpdate', status: 'True' }]))).toBe(true);
    expect(
      isRolling(
        withConditions([
          { type: 'RollingUpdate', status: 'False' },
          { type: 'Ready', status: 'True' },
        ]),
      ),
    ).toBe(false);
    for (const odd of [undefined, 'RollingUpdate', [null, 7, 'x'], {}]) expect(isRolling(withConditions(odd))).toBe(false);
  });

  it('is true while the status describes an older generation: the roll may have made its first Pod', () => {
    const seen = (observedGeneration: unknown) => rc('cache', { metadata: { generation: 3 }, status: { observedGeneration } });
    expect(isRolling(seen(2))).toBe(true);
    expect(isRolling(seen(3))).toBe(false);
    // No observedGeneration: nothing is known to lag.
    expect(isRolling(seen(undefined))).toBe(false);
  });
});

describe('askOrder', () => {
  const a = { ip: '10.0.0.1', port: 1 };
  const b = { ip: '10.0.0.2', port: 2 };
  const c = { ip: 'fd00::3', port: 3 };

  it('writes IPv6 addresses in brackets', () => {
    expect(endpointText(a)).toBe('10.0.0.1:1');
    expect(endpointText(c)).toBe('[fd00::3]:3');
  });

  it('asks the node that answered last first, the others in their order', () => {
    expect(askOrder([a, b, c], new Set(), '[fd00::3]:3')).toEqual([c, a, b]);
    expect(askOrder([a, b, c], new Set(), undefined)).toEqual([a, b, c]);
  });

  it('skips the nodes this read already asked', () => {
    expect(askOrder([a, b, c], new Set(['10.0.0.2:2']), '10.0.0.2:2')).toEqual([a, c]);
  });
});

describe('snapshotOf', () => {
  const report = { myId: 'a' } as NodeReport;
  const at = '2026-01-01T00:00:00.000Z';

  it('is live when a node answered, with the spec and phase it could read', () => {
    const cluster = rc('cache', { spec: { masters: 3, replicas: 1 }, status: { phase: 'Ready' } });
    expect(snapshotOf(cluster, 'cache', 'rc', { report, statusNodes: [], unreachable: [] }, at)).toEqual({
      name: 'rc',
      namespace: 'cache',
      source: 'live',
      observedAt: at,
      report,
      statusNodes: [],
      unreachable: [],
      phase: 'Ready',
      masters: 3,
      replicas: 1,
    });
  });

  it('is the status when none answered, and leaves out what the object does not say well', () => {
    const unreachable = [{ ip: '10.0.0.1', port: 1, error: 'refused' }];
    const cluster = rc('cache', { spec: { masters: -1, replicas: 'one' }, status: { phase: 2 } });
    const snapshot = snapshotOf(cluster, 'cache', 'rc', { statusNodes: [], unreachable }, at);
    expect(snapshot).toEqual({ name: 'rc', namespace: 'cache', source: 'status', observedAt: at, statusNodes: [], unreachable });
    expect('report' in snapshot).toBe(false);
  });
});
