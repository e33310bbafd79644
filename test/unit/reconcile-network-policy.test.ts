import { describe, expect, it } from 'vitest';
import { applyDefaults } from '../../shared/api/index.js';
import { buildNetworkPolicy, POLICY_HASH } from '../../functions/reconcile/network-policy.js';

const identity = { name: 'rc', namespace: 'shop', uid: 'u1' };
const spec = applyDefaults({ maxMemory: '1mb' });

describe('buildNetworkPolicy', () => {
  it('without client labels admits only the nodes and the functions: an empty selector would admit the whole namespace', () => {
    const policy = buildNetworkPolicy(identity, spec, { operatorNamespace: 'ops', clientLabels: {} });
    expect(policy.spec!.ingress!.map((r) => r._from)).toEqual([
      [{ podSelector: { matchLabels: expect.objectContaining({ 'redis.redis/cluster': 'rc' }) } }],
      [expect.objectContaining({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ops' } } })],
    ]);
  });

  it('keeps the port ranges inside 65535 and changes its hash with the labels', () => {
    const high = applyDefaults({ maxMemory: '1mb', basePort: 55000 });
    const policy = buildNetworkPolicy(identity, high, { operatorNamespace: 'ops', clientLabels: { a: 'b' } });
    expect(policy.spec!.ingress![0]!.ports![1]).toEqual({ protocol: 'TCP', port: 65000, endPort: 65535 });
    const other = buildNetworkPolicy(identity, high, { operatorNamespace: 'ops', clientLabels: { a: 'c' } });
    expect(other.metadata!.annotations![POLICY_HASH]).not.toBe(policy.metadata!.annotations![POLICY_HASH]);
  });
});
