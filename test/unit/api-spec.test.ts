import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  SpecError,
  applyDefaults,
  exporterImage,
  imageRef,
  isOperatorOwnedConfig,
  nodeCount,
  nodePorts,
  parseMemory,
  parseQuantity,
  redisImage,
  resolveAlertAction,
  selectorFor,
  selectorLabels,
  statusSchema,
  validateSpec,
  type FieldError,
} from '../../shared/api/index.js';

// The reference operator's example resource, verbatim (SEED.md §1).
const REFERENCE_SPEC = {
  image: 'awbrg789/redis:latest',
  masters: 3,
  replicas: 1,
  basePort: 10000,
  maxMemory: '512mb',
  resources: { limits: { cpu: 1, memory: '1000Mi' }, requests: { cpu: 1, memory: '1000Mi' } },
  exporterResources: { limits: { cpu: '200m', memory: '128Mi' }, requests: { cpu: '50m', memory: '64Mi' } },
};

function errorsOf(spec: unknown): FieldError[] {
  const result = validateSpec(spec);
  if (result.ok) throw new Error(`expected ${JSON.stringify(spec)} to be invalid`);
  return result.errors;
}

describe('the reference example', () => {
  it('is valid and keeps every value it sets', () => {
    const result = validateSpec(REFERENCE_SPEC);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec).toMatchObject({
      image: 'awbrg789/redis:latest',
      masters: 3,
      replicas: 1,
      basePort: 10000,
      maxMemory: '512mb',
      resources: REFERENCE_SPEC.resources,
    });
    // exporterResources is normalised into exporter.resources
    expect(result.spec.exporter.resources).toEqual(REFERENCE_SPEC.exporterResources);
    expect('exporterResources' in result.spec).toBe(false);
  });
});

describe('defaults', () => {
  it('leave data loss off unless the spec allows it', () => {
    expect(applyDefaults({ maxMemory: '1gb' }).allowDataLoss).toBe(false);
    expect(applyDefaults({ maxMemory: '1gb', allowDataLoss: true }).allowDataLoss).toBe(true);
  });
  it('come out as documented for a minimal spec', () => {
    const spec = applyDefaults({ maxMemory: '1gb' });
    expect(spec).toEqual({
      image: 'redis:7.0',
      masters: 3,
      replicas: 1,
      basePort: 10000,
      maxMemory: '1gb',
      maxMemoryPolicy: 'noeviction',
      hostNetwork: true,
      clusterNodeTimeout: 5000,
      allowDataLoss: false,
      paused: false,
      persistence: { enabled: false, size: '1Gi' },
      exporter: { enabled: true, image: 'oliver006/redis_exporter', tag: 'v1.45.0' },
      autoscaling: {
        enabled: false,
        minMasters: 3,
        maxMasters: 10,
        minReplicas: 0,
        maxReplicas: 5,
        cooldownSeconds: 300,
        actions: {
          HighMemoryUsage: { target: 'masters', direction: 'add' },
          HighThroughput: { target: 'masters', direction: 'add' },
          LowMemoryUsage: { target: 'masters', direction: 'remove' },
          LowThroughput: { target: 'masters', direction: 'remove' },
        },
      },
    });
    expect(spec.masters).toBe(DEFAULTS.masters);
    expect(spec.autoscaling.cooldownSeconds).toBe(DEFAULTS.cooldownSeconds);
  });

  it('fill nested objects the user gave only in part', () => {
    const spec = applyDefaults({
      maxMemory: '1gb',
      persistence: { enabled: true },
      passwordSecret: { name: 'redis-auth' },
      autoscaling: {
        enabled: true,
        actions: { HighThroughput: { direction: 'add', count: 2 }, Custom: { target: 'replicas', direction: 'remove' } },
      },
    });
    expect(spec.persistence).toEqual({ enabled: true, size: '1Gi' });
    expect(spec.passwordSecret).toEqual({ name: 'redis-auth', key: 'password' });
    // user actions are merged over the four defaults
    expect(spec.autoscaling.actions.HighThroughput).toEqual({ target: 'masters', direction: 'add', count: 2 });
    expect(spec.autoscaling.actions.LowMemoryUsage).toEqual({ target: 'masters', direction: 'remove' });
    expect(spec.autoscaling.actions.Custom).toEqual({ target: 'replicas', direction: 'remove' });
  });

  it('keep exporter.resources when only that spelling is used, and accept both when equal', () => {
    const res = { limits: { cpu: '100m' } };
    expect(applyDefaults({ maxMemory: '1gb', exporter: { resources: res } }).exporter.resources).toEqual(res);
    expect(applyDefaults({ maxMemory: '1gb', exporter: { resources: res }, exporterResources: res }).exporter.resources).toEqual(res);
  });

  it('are idempotent: a defaulted spec validates to itself', () => {
    const once = applyDefaults(REFERENCE_SPEC);
    expect(applyDefaults(once)).toEqual(once);
  });

  it('applyDefaults throws a SpecError listing every field', () => {
    expect(() => applyDefaults({ masters: 1 })).toThrow(SpecError);
    try {
      applyDefaults({ masters: 1 });
    } catch (err) {
      expect((err as SpecError).errors.map((e) => e.path).sort()).toEqual(['spec.masters', 'spec.maxMemory']);
      expect((err as Error).message).toContain('spec.masters: must be at least 3');
    }
  });
});

describe('invalid specs are refused with the field named and the reason given', () => {
  const base = { maxMemory: '512mb' };
  const cases: [string, unknown, string, RegExp][] = [
    ['two masters', { ...base, masters: 2 }, 'spec.masters', /at least 3 \(a cluster needs a majority of masters to fail over\)/],
    ['fractional masters', { ...base, masters: 3.5 }, 'spec.masters', /whole number/],
    ['masters as a string', { ...base, masters: '3' }, 'spec.masters', /whole number/],
    ['six replicas', { ...base, replicas: 6 }, 'spec.replicas', /at most 5/],
    ['negative replicas', { ...base, replicas: -1 }, 'spec.replicas', /at least 0/],
    ['privileged basePort', { ...base, basePort: 80 }, 'spec.basePort', /at least 1024/],
    ['basePort past the bus range', { ...base, basePort: 60000 }, 'spec.basePort', /at most 55533/],
    ['bus ports of all nodes over 65535', { ...base, basePort: 55533 }, 'spec.basePort', /cluster bus port.*at most 55530/],
    ['more than 1000 nodes', { ...base, masters: 600, replicas: 1 }, 'spec.masters', /at most 1000.*here 1200/],
    ['no maxMemory', {}, 'spec.maxMemory', /is required/],
    ['maxMemory with a bad unit', { ...base, maxMemory: '512MBs' }, 'spec.maxMemory', /Redis memory size/],
    ['fractional maxMemory', { ...base, maxMemory: '1.5gb' }, 'spec.maxMemory', /Redis memory size/],
    ['zero maxMemory', { ...base, maxMemory: '0mb' }, 'spec.maxMemory', /greater than 0/],
    ['maxMemory as a number', { ...base, maxMemory: 512 }, 'spec.maxMemory', /must be a string/],
    ['unknown eviction policy', { ...base, maxMemoryPolicy: 'lru' }, 'spec.maxMemoryPolicy', /noeviction, allkeys-lru/],
    ['fractional cpu number', { ...base, resources: { limits: { cpu: 0.5 } } }, 'spec.resources.limits.cpu', /Kubernetes quantity/],
    [
      'bad memory quantity',
      { ...base, resources: { requests: { memory: '1Gx' } } },
      'spec.resources.requests.memory',
      /Kubernetes quantity/,
    ],
    [
      'negative quantity',
      { ...base, exporterResources: { limits: { cpu: '-1' } } },
      'spec.exporterResources.limits.cpu',
      /Kubernetes quantity/,
    ],
    ['misspelt field', { ...base, mastres: 4 }, 'spec.mastres', /not a field/],
    ['misspelt nested field', { ...base, resources: { limit: {} } }, 'spec.resources.limit', /not a field/],
    ['pull policy', { ...base, imagePullPolicy: 'Sometimes' }, 'spec.imagePullPolicy', /Always, IfNotPresent or Never/],
    ['toleration effect', { ...base, tolerations: [{ key: 'a', effect: 'Never' }] }, 'spec.tolerations[0].effect', /NoSchedule/],
    ['hostNetwork as text', { ...base, hostNetwork: 'yes' }, 'spec.hostNetwork', /boolean/],
    ['allowDataLoss as text', { ...base, allowDataLoss: 'true' }, 'spec.allowDataLoss', /must be a boolean/],
    ['allowDataLoss as a number', { ...base, allowDataLoss: 1 }, 'spec.allowDataLoss', /must be a boolean/],
    ['tiny node timeout', { ...base, clusterNodeTimeout: 500 }, 'spec.clusterNodeTimeout', /at least 1000 ms/],
    ['bad volume size', { ...base, persistence: { enabled: true, size: 'big' } }, 'spec.persistence.size', /Kubernetes quantity/],
    ['bad secret name', { ...base, passwordSecret: { name: 'Bad_Name' } }, 'spec.passwordSecret.name', /Secret name/],
    ['secret without name', { ...base, passwordSecret: { key: 'pw' } }, 'spec.passwordSecret.name', /is required/],
    ['image with a space', { ...base, image: 'redis 7' }, 'spec.image', /whitespace/],
    [
      'ACL user named default',
      { ...base, acl: { users: [{ name: 'default', rules: 'on' }] } },
      'spec.acl.users[0].name',
      /operator manages/,
    ],
    [
      'ACL user named as the operator',
      { ...base, acl: { users: [{ name: 'redis-operator', rules: 'on' }] } },
      'spec.acl.users[0].name',
      /operator manages/,
    ],
    [
      'ACL user twice',
      {
        ...base,
        acl: {
          users: [
            { name: 'app', rules: 'on' },
            { name: 'app', rules: 'off' },
          ],
        },
      },
      'spec.acl.users[1].name',
      /repeats user app/,
    ],
    ['multi-line ACL rules', { ...base, acl: { users: [{ name: 'app', rules: 'on\n+@all' }] } }, 'spec.acl.users[0].rules', /single line/],
    ['bad tag', { ...base, tag: 'v 1' }, 'spec.tag', /image tag/],
    ['node selector value', { ...base, nodeSelector: { 'kubernetes.io/arch': 3 } }, 'spec.nodeSelector["kubernetes.io/arch"]', /string/],
    ['owned redis setting', { ...base, redisConfig: { port: '7000' } }, 'spec.redisConfig.port', /set by the operator/],
    ['owned setting in upper case', { ...base, redisConfig: { MaxMemory: '1gb' } }, 'spec.redisConfig.MaxMemory', /set by the operator/],
    [
      'owned prefix',
      { ...base, redisConfig: { 'cluster-announce-future': 'x' } },
      'spec.redisConfig.cluster-announce-future',
      /set by the operator/,
    ],
    ['multi-line setting', { ...base, redisConfig: { save: '60 1\nport 7000' } }, 'spec.redisConfig.save', /single line/],
    ['bad setting name', { ...base, redisConfig: { 'bad key': 'x' } }, 'spec.redisConfig["bad key"]', /setting name/],
    ['setting as a number', { ...base, redisConfig: { hz: 10 } }, 'spec.redisConfig.hz', /must be a string/],
    ['minMasters below 3', { ...base, autoscaling: { enabled: true, minMasters: 2 } }, 'spec.autoscaling.minMasters', /at least 3/],
    [
      'min above max',
      { ...base, autoscaling: { minMasters: 6, maxMasters: 5 } },
      'spec.autoscaling.minMasters',
      /must not exceed autoscaling.maxMasters/,
    ],
    ['replica bounds crossed', { ...base, autoscaling: { minReplicas: 3, maxReplicas: 2 } }, 'spec.autoscaling.minReplicas', /maxReplicas/],
    [
      'masters over maxMasters',
      { ...base, masters: 12, autoscaling: { enabled: true } },
      'spec.masters',
      /within autoscaling.minMasters..autoscaling.maxMasters.*here 12 outside 3..10/,
    ],
    [
      'replicas under minReplicas',
      { ...base, replicas: 0, autoscaling: { enabled: true, minReplicas: 1 } },
      'spec.replicas',
      /within autoscaling.minReplicas/,
    ],
    [
      'autoscaling past 1000 nodes',
      { ...base, autoscaling: { enabled: true, maxMasters: 400 } },
      'spec.autoscaling.maxMasters',
      /at most 1000.*here 2400/,
    ],
    [
      'autoscaling past the port range',
      { ...base, basePort: 55500, autoscaling: { enabled: true } },
      'spec.basePort',
      /autoscaling may create.*at most 55476/,
    ],
    [
      'action direction',
      { ...base, autoscaling: { actions: { HighThroughput: { direction: 'up' } } } },
      'spec.autoscaling.actions.HighThroughput.direction',
      /add or remove/,
    ],
    [
      'action without direction',
      { ...base, autoscaling: { actions: { X: { target: 'masters' } } } },
      'spec.autoscaling.actions.X.direction',
      /is required/,
    ],
    [
      'action count 0',
      { ...base, autoscaling: { actions: { X: { direction: 'add', count: 0 } } } },
      'spec.autoscaling.actions.X.count',
      /at least 1/,
    ],
    [
      'both exporter resources, different',
      { ...base, exporterResources: { limits: { cpu: '100m' } }, exporter: { resources: { limits: { cpu: '200m' } } } },
      'spec.exporterResources',
      /exporter.resources/,
    ],
  ];

  for (const [name, spec, path, message] of cases) {
    it(name, () => {
      const errors = errorsOf(spec);
      const hit = errors.find((e) => e.path === path);
      expect(hit, `errors were ${JSON.stringify(errors)}`).toBeDefined();
      expect(hit!.message).toMatch(message);
    });
  }

  it('a spec that is not an object', () => {
    expect(errorsOf('masters: 3')).toEqual([{ path: 'spec', message: 'must be an object' }]);
    expect(errorsOf(undefined)).toEqual([{ path: 'spec', message: 'is required' }]);
  });

  it('reports every field error at once', () => {
    const paths = errorsOf({ masters: 1, replicas: 9, maxMemory: 'lots', hostNetwork: 1 }).map((e) => e.path);
    expect(paths.sort()).toEqual(['spec.hostNetwork', 'spec.masters', 'spec.maxMemory', 'spec.replicas']);
  });

  it('masters outside the autoscaling bounds are fine while autoscaling is off', () => {
    expect(validateSpec({ ...base, masters: 12 }).ok).toBe(true);
  });
});

describe('parseMemory', () => {
  it('reads units the way Redis does, case-insensitively', () => {
    expect(parseMemory('512mb')).toBe(512 * 1024 * 1024);
    expect(parseMemory('512MB')).toBe(512 * 1024 * 1024);
    expect(parseMemory('1gb')).toBe(1024 ** 3);
    expect(parseMemory('1G')).toBe(1e9);
    expect(parseMemory('100kb')).toBe(102400);
    expect(parseMemory('100k')).toBe(100000);
    expect(parseMemory('2m')).toBe(2_000_000);
    expect(parseMemory('1073741824')).toBe(1073741824);
    expect(parseMemory('64b')).toBe(64);
  });

  it('refuses what Redis refuses', () => {
    for (const bad of ['', 'mb', '1.5gb', '-1mb', '1tb', '1 mb', '1gib'])
      expect(() => parseMemory(bad), bad).toThrow(/invalid memory size/);
  });

  it('stays exact up to its bound of about 1 PB in every unit', () => {
    for (const largest of ['999999999999999', '999999999999kb', '999999999mb', '999999gb', '999999g']) {
      expect(Number.isSafeInteger(parseMemory(largest)), largest).toBe(true);
    }
    for (const tooLarge of ['9999999999999999', '9999999999999kb', '9999999999mb', '1000000gb']) {
      expect(() => parseMemory(tooLarge), tooLarge).toThrow(/at most about 1 PB/);
    }
  });
});

describe('parseQuantity', () => {
  it('reads Kubernetes quantities', () => {
    expect(parseQuantity(1)).toBe(1);
    expect(parseQuantity('200m')).toBeCloseTo(0.2);
    expect(parseQuantity('0.5')).toBe(0.5);
    expect(parseQuantity('1000Mi')).toBe(1000 * 2 ** 20);
    expect(parseQuantity('1Gi')).toBe(2 ** 30);
    expect(parseQuantity('1G')).toBe(1e9);
    expect(parseQuantity('1e3')).toBe(1000);
    expect(() => parseQuantity('1Gx')).toThrow(/invalid quantity/);
    expect(() => parseQuantity(0.5)).toThrow(/invalid quantity/);
  });
});

describe('ports, images, labels, alerts', () => {
  const spec = applyDefaults({ maxMemory: '1gb', basePort: 12000, masters: 4, replicas: 2 });

  it('nodePorts follows basePort + i, +10000, +5000', () => {
    expect(nodePorts(spec, 0)).toEqual({ port: 12000, busPort: 22000, exporterPort: 17000 });
    expect(nodePorts(spec, 11)).toEqual({ port: 12011, busPort: 22011, exporterPort: 17011 });
    expect(nodeCount(spec)).toBe(12);
    expect(() => nodePorts(spec, -1)).toThrow(/ordinal/);
  });

  it('no two ports of a valid cluster collide, and all stay <= 65535', () => {
    const big = applyDefaults({ maxMemory: '1gb', masters: 166, replicas: 5, basePort: 54536 });
    const ports = new Set<number>();
    for (let i = 0; i < nodeCount(big); i++) {
      const p = nodePorts(big, i);
      for (const port of [p.port, p.busPort, p.exporterPort]) {
        expect(port).toBeLessThanOrEqual(65535);
        expect(ports.has(port)).toBe(false);
        ports.add(port);
      }
    }
    expect(ports.size).toBe(3 * 996);
  });

  it('imageRef applies a tag over any tag the image carries', () => {
    expect(imageRef('redis:7.0')).toBe('redis:7.0');
    expect(imageRef('redis:7.0', '7.2')).toBe('redis:7.2');
    expect(imageRef('awbrg789/redis:latest', 'v2')).toBe('awbrg789/redis:v2');
    expect(imageRef('registry:5000/redis', '7')).toBe('registry:5000/redis:7');
    expect(imageRef('redis@sha256:abc', '7')).toBe('redis:7');
    expect(redisImage(applyDefaults({ maxMemory: '1gb', tag: '7.2' }))).toBe('redis:7.2');
    expect(exporterImage(spec)).toBe('oliver006/redis_exporter:v1.45.0');
  });

  it('selectorFor gives the /scale selector string', () => {
    expect(selectorFor('rediscluster1')).toBe('app.kubernetes.io/name=redis-cluster,redis.redis/cluster=rediscluster1');
    expect(selectorLabels('a')).toEqual({ 'app.kubernetes.io/name': 'redis-cluster', 'redis.redis/cluster': 'a' });
  });

  it('resolveAlertAction: action count, else scale_count, else 1', () => {
    const s = applyDefaults({
      maxMemory: '1gb',
      autoscaling: { actions: { HighThroughput: { direction: 'add', count: 3 }, ReplicaLag: { target: 'replicas', direction: 'add' } } },
    });
    expect(resolveAlertAction(s, 'HighMemoryUsage')).toEqual({ target: 'masters', change: 1 });
    expect(resolveAlertAction(s, 'HighMemoryUsage', '2')).toEqual({ target: 'masters', change: 2 });
    expect(resolveAlertAction(s, 'LowThroughput', 2)).toEqual({ target: 'masters', change: -2 });
    expect(resolveAlertAction(s, 'HighThroughput', '5')).toEqual({ target: 'masters', change: 3 });
    expect(resolveAlertAction(s, 'ReplicaLag')).toEqual({ target: 'replicas', change: 1 });
    expect(resolveAlertAction(s, 'Unrelated')).toBeUndefined();
    expect(() => resolveAlertAction(s, 'LowMemoryUsage', 'two')).toThrow(/scale_count/);
  });

  it('owned redis settings are recognised in any case', () => {
    expect(isOperatorOwnedConfig('requirepass')).toBe(true);
    expect(isOperatorOwnedConfig('Cluster-Announce-IP')).toBe(true);
    expect(isOperatorOwnedConfig('appendonly')).toBe(false);
  });
});

describe('status schema', () => {
  const status = {
    phase: 'Ready',
    observedGeneration: 2,
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'AllSlotsServed', message: '' }],
    readyMasters: 3,
    readyReplicas: 3,
    nodes: [
      { id: 'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca', pod: 'c-0', ip: '10.0.0.1', port: 10000, role: 'master', slots: ['0-5460'] },
      {
        id: '07c37dfeb235213a872192d90877d0cd55635b91',
        pod: 'c-3',
        ip: '10.0.0.2',
        port: 10003,
        role: 'replica',
        masterId: 'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca',
      },
    ],
    reshard: {
      state: 'Running',
      operation: 'Rebalance',
      slotsDone: 10,
      slotsTotal: 4096,
      keysMoved: 1234,
      currentMoves: [{ source: 'a', target: 'b', slots: ['5461-5470'] }],
      startedAt: '2026-01-01T00:00:00+02:00',
    },
    replicas: 3,
    selector: selectorFor('c'),
  };

  it('accepts what the operator writes', () => {
    expect(statusSchema.safeParse(status).success).toBe(true);
  });

  it('refuses a phase, condition status, date or slot range outside the contract', () => {
    expect(statusSchema.safeParse({ ...status, phase: 'Running' }).success).toBe(false);
    expect(statusSchema.safeParse({ ...status, conditions: [{ ...status.conditions[0], status: 'Yes' }] }).success).toBe(false);
    expect(statusSchema.safeParse({ ...status, lastScaleTime: 'yesterday' }).success).toBe(false);
    expect(statusSchema.safeParse({ ...status, nodes: [{ ...status.nodes[0], slots: ['0..5460'] }] }).success).toBe(false);
  });
});
