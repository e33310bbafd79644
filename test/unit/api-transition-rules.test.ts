import { describe, expect, it } from 'vitest';
import { invalid } from '../../local/apiserver/errors.js';
import { compileCrdSchema } from '../../local/apiserver/validation/openapi.js';
import { openApiSchema } from '../../shared/api/crd.js';
import { TRANSITION_RULES, specFields, type RedisClusterSpec } from '../../shared/api/index.js';

// The RedisCluster CRD as the API server compiles it, and an update as it admits one: defaults
// on both objects (the stored one was defaulted when written), then validation against the old.
const crd = compileCrdSchema(openApiSchema());
const stored = (spec: RedisClusterSpec) => {
  const obj: Record<string, unknown> = { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', spec: structuredClone(spec) };
  crd.applyDefaults(obj);
  return obj;
};
const update = (from: RedisClusterSpec, to: RedisClusterSpec) => crd.validate(stored(to), stored(from));
const messageOf = (from: RedisClusterSpec, to: RedisClusterSpec) => invalid('RedisCluster', 'redis.redis', 'c', update(from, to)).message;

const base: RedisClusterSpec = { maxMemory: '512mb' };
const persistent: RedisClusterSpec = { ...base, persistence: { enabled: true, storageClass: 'standard', size: '1Gi' } };

describe('the CRD transition rules', () => {
  it('are all compiled by the API server', () => {
    expect(crd.unsupportedRules).toEqual([]);
  });

  it('refuse basePort, hostNetwork and persistence changes, naming the field and why', () => {
    expect(messageOf(base, { ...base, basePort: 20000 })).toBe(
      'RedisCluster.redis.redis "c" is invalid: spec.basePort: Forbidden: basePort cannot change on a live cluster: ' +
        "every node's port and bus port (basePort + i, + 10000) are fixed in nodes.conf and announced to the other nodes",
    );
    expect(update(base, { ...base, hostNetwork: false })).toEqual([
      expect.objectContaining({ reason: 'FieldValueForbidden', field: 'spec.hostNetwork' }),
    ]);
    expect(update(base, { ...base, persistence: { enabled: true } })).toEqual([
      expect.objectContaining({
        field: 'spec.persistence.enabled',
        message: expect.stringMatching(/^Forbidden: persistence.enabled cannot change/),
      }),
    ]);
    expect(update(persistent, { ...persistent, persistence: { enabled: true, storageClass: 'fast', size: '1Gi' } })).toEqual([
      expect.objectContaining({
        field: 'spec.persistence.storageClass',
        message: expect.stringMatching(/^Forbidden: persistence.storageClass/),
      }),
    ]);
    // Dropping the class (back to the default class) is a change too.
    expect(update(persistent, { ...persistent, persistence: { enabled: true, size: '1Gi' } })).toEqual([
      expect.objectContaining({ field: 'spec.persistence.storageClass' }),
    ]);
  });

  it('let persistence.size grow, by value, and refuse a shrink', () => {
    const sized = (size: string | number): RedisClusterSpec => ({
      ...persistent,
      persistence: { enabled: true, storageClass: 'standard', size },
    });
    expect(update(persistent, sized('2Gi'))).toEqual([]);
    expect(update(persistent, sized('1024Mi'))).toEqual([]);
    expect(update(persistent, sized(2147483648))).toEqual([]);
    expect(update(persistent, sized('1000Mi'))).toEqual([
      {
        reason: 'FieldValueForbidden',
        field: 'spec.persistence.size',
        message: 'Forbidden: persistence.size may only grow: a PersistentVolumeClaim can be expanded, never shrunk',
      },
    ]);
  });

  it('leave the size and class alone without persistence, and everything else changeable', () => {
    const ephemeral: RedisClusterSpec = { ...base, persistence: { size: '10Gi', storageClass: 'a' } };
    expect(update(ephemeral, { ...base, persistence: { size: '1Gi', storageClass: 'b' } })).toEqual([]);
    expect(update(base, { ...base, masters: 4, replicas: 2, maxMemory: '1gb', image: 'redis:7.2' })).toEqual([]);
  });

  it('let tls be added or removed (the nodes are moved over in a roll) and its Secret change (a rotation)', () => {
    const tls: RedisClusterSpec = { ...base, tls: { secretName: 'redis-tls' } };
    expect(update(base, tls)).toEqual([]);
    expect(update(tls, base)).toEqual([]);
    expect(update(tls, { ...base, tls: { secretName: 'other' } })).toEqual([]);
    expect(crd.validate(stored(tls))).toEqual([]);
  });

  it('never run on create', () => {
    expect(crd.validate(stored({ ...persistent, basePort: 20000, hostNetwork: false }))).toEqual([]);
  });

  it('say the same as their TypeScript twins', () => {
    const pairs: [RedisClusterSpec, RedisClusterSpec][] = [
      [base, { ...base, basePort: 20000 }],
      [base, { ...base, hostNetwork: false }],
      [base, { ...base, persistence: { enabled: true } }],
      [persistent, { ...persistent, persistence: { enabled: true, storageClass: 'fast', size: '1Gi' } }],
      [persistent, { ...persistent, persistence: { enabled: true, storageClass: 'standard', size: '512Mi' } }],
      [persistent, { ...persistent, persistence: { enabled: true, storageClass: 'standard', size: '3Gi' } }],
      [base, { ...base, masters: 5 }],
      [base, { ...base, tls: { secretName: 'redis-tls' } }],
      [{ ...base, tls: { secretName: 'redis-tls' } }, base],
      [
        { ...base, tls: { secretName: 'redis-tls' } },
        { ...base, tls: { secretName: 'redis-tls-2' } },
      ],
    ];
    for (const [from, to] of pairs) {
      const [old, next] = [specFields.parse(from), specFields.parse(to)];
      const refused = TRANSITION_RULES.filter((r) => !r.holds(next, old)).map(
        (r) => `spec.${[r.node, r.fieldPath].filter(Boolean).join('.')}`,
      );
      expect(update(from, to).map((c) => c.field)).toEqual(refused);
    }
  });
});
