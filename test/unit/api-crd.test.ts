import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { redisClusterCrd } from '../../shared/api/crd.js';
import { SPEC_RULES, specSchema, statusSchema, validateSpec } from '../../shared/api/index.js';
import { structuralProblems, type JsonSchema } from '../../shared/api/openapi.js';
import { steps } from '../../scripts/gen/steps.js';
import { openApiValidator } from '../helpers/crd-validator.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CRD_PATH = 'charts/redis-operator/crds/redisclusters.redis.redis.yaml';
const committedCrd = parse(readFileSync(resolve(root, CRD_PATH), 'utf8'));
const version = committedCrd.spec.versions[0];
const schema: JsonSchema = version.schema.openAPIV3Schema;
const specNode = (schema.properties as Record<string, JsonSchema>).spec!;
// What kubectl apply gets from the API server: defaults, schema, strict fields, CEL rules.
const apiServer = openApiValidator(schema);
const schemaOnly = openApiValidator(schema, { cel: false });

const object = (spec: unknown, status?: unknown) => ({
  apiVersion: 'redis.redis/v1beta1',
  kind: 'RedisCluster',
  metadata: { name: 'c', namespace: 'cache' },
  spec,
  ...(status === undefined ? {} : { status }),
});

describe('generated files', () => {
  for (const step of steps) {
    it(`${step.output} is what npm run gen produces`, async () => {
      const committed = readFileSync(resolve(root, step.output), 'utf8');
      expect(committed, `${step.output} is stale: run npm run gen`).toBe(await step.render());
    });
  }
});

/** Every schema node with its path, including items, map values and junctor members. */
function nodes(node: JsonSchema, path = ''): [string, JsonSchema][] {
  const out: [string, JsonSchema][] = [[path, node]];
  for (const [name, sub] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>))
    out.push(...nodes(sub, `${path}.${name}`));
  if (node.items) out.push(...nodes(node.items as JsonSchema, `${path}[]`));
  if (typeof node.additionalProperties === 'object') out.push(...nodes(node.additionalProperties as JsonSchema, `${path}.*`));
  return out;
}

describe('the CRD schema is structural', () => {
  const all = nodes(schema);

  it('passes every structural rule', () => {
    expect(structuralProblems(schema)).toEqual([]);
  });

  it('has a type on every node, and no $ref or $schema anywhere', () => {
    for (const [path, node] of all) {
      if (node['x-kubernetes-int-or-string']) continue;
      expect(typeof node.type, path).toBe('string');
    }
    const text = JSON.stringify(schema);
    expect(text).not.toContain('"$ref"');
    expect(text).not.toContain('"$schema"');
    expect(text).not.toContain('"additionalProperties":false');
    expect(text).not.toContain('9007199254740991');
  });

  it('never has properties and additionalProperties in one object', () => {
    for (const [path, node] of all) expect(node.properties && node.additionalProperties, path).toBeFalsy();
  });

  it('marks exactly the quantities as int-or-string', () => {
    const intOrString = all.filter(([, n]) => n['x-kubernetes-int-or-string']).map(([p]) => p);
    const quantities = ['resources', 'exporterResources', 'exporter.resources'].flatMap((r) => [
      `.spec.${r}.limits.*`,
      `.spec.${r}.requests.*`,
    ]);
    expect(intOrString.sort()).toEqual([...quantities, '.spec.persistence.size'].sort());
  });

  it('preserves unknown fields only in the free-form Pod settings', () => {
    const preserved = all.filter(([, n]) => n['x-kubernetes-preserve-unknown-fields']).map(([p]) => p);
    expect(preserved.sort()).toEqual(['.spec.affinity', '.spec.securityContext', '.spec.tolerations[]']);
  });
});

describe('the CRD declaration', () => {
  it('keeps the reference names', () => {
    expect(committedCrd.metadata.name).toBe('redisclusters.redis.redis');
    expect(committedCrd.spec).toMatchObject({
      group: 'redis.redis',
      scope: 'Namespaced',
      names: { kind: 'RedisCluster', plural: 'redisclusters', singular: 'rediscluster' },
    });
    expect(version).toMatchObject({ name: 'v1beta1', served: true, storage: true });
  });

  it('has a short name no built-in resource uses', () => {
    const builtIn = [
      'rc',
      'po',
      'svc',
      'ns',
      'no',
      'pv',
      'pvc',
      'cm',
      'ep',
      'ev',
      'sa',
      'ds',
      'deploy',
      'rs',
      'sts',
      'hpa',
      'pdb',
      'ing',
      'crd',
      'cs',
      'limits',
      'quota',
      'netpol',
      'sc',
      'pc',
      'csr',
    ];
    for (const short of committedCrd.spec.names.shortNames) expect(builtIn).not.toContain(short);
    expect(committedCrd.spec.names.categories).toContain('redis');
  });

  it("has the reference's printer columns, then STATUS, READY, RESHARD, UPDATING and AGE", () => {
    const columns = version.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => `${c.name} ${c.jsonPath}`);
    expect(columns).toEqual([
      'MASTERS .spec.masters',
      'REPLICAS .spec.replicas',
      'MAXMEMORY .spec.maxMemory',
      'BASEPORT .spec.basePort',
      'STATUS .status.phase',
      'READY .status.conditions[?(@.type=="Ready")].status',
      'RESHARD .status.reshard.progress',
      'UPDATING .status.rollingUpdate.progress',
      'AGE .metadata.creationTimestamp',
    ]);
  });

  it('has the status and scale subresources KEDA needs', () => {
    expect(version.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.masters', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
    const status = (schema.properties as Record<string, JsonSchema>).status!.properties as Record<string, JsonSchema>;
    expect(status.selector!.type).toBe('string');
    expect(status.replicas!.type).toBe('integer');
  });

  it('is the CRD the code builds', () => {
    expect(JSON.parse(JSON.stringify(redisClusterCrd()))).toEqual(committedCrd);
  });

  it('declares every cross-field rule as CEL with the same message, on a field that exists', () => {
    // The spec also carries the transition rule on tls (FieldValueForbidden), checked elsewhere.
    const rules = (specNode['x-kubernetes-validations'] as { rule: string; message: string; fieldPath: string; reason: string }[]).filter(
      (r) => r.reason !== 'FieldValueForbidden',
    );
    expect(rules.map((r) => r.message)).toEqual(SPEC_RULES.map((r) => r.message));
    for (const rule of rules) {
      let node: JsonSchema | undefined = specNode;
      for (const name of rule.fieldPath.slice(1).split('.')) node = (node?.properties as Record<string, JsonSchema> | undefined)?.[name];
      expect(node, rule.fieldPath).toBeDefined();
    }
  });
});

// One table, two judges. `by` says who decides an invalid case:
// - 'schema': the structural schema (types, bounds, patterns, enums, unknown fields);
// - 'cel':    a CEL rule of the CRD (x-kubernetes-validations), evaluated here by the API server's CEL evaluator;
// - 'zod':    only the operator can tell (Redis setting names in other cases or under an owned
//             prefix, and malformed names: a structural schema cannot constrain map keys, and CEL
//             over every key would exceed the API server's cost budget). The API server accepts
//             these; the operator refuses them and reports it on the resource instead of acting.
type Case = { name: string; spec: unknown } & ({ valid: true } | { valid: false; path: string; by: 'schema' | 'cel' | 'zod' });

const base = { maxMemory: '512mb' };
const REFERENCE = {
  image: 'awbrg789/redis:latest',
  masters: 3,
  replicas: 1,
  basePort: 10000,
  maxMemory: '512mb',
  resources: { limits: { cpu: 1, memory: '1000Mi' }, requests: { cpu: 1, memory: '1000Mi' } },
  exporterResources: { limits: { cpu: '200m', memory: '128Mi' }, requests: { cpu: '50m', memory: '64Mi' } },
};

const CASES: Case[] = [
  { name: 'the reference example', spec: REFERENCE, valid: true },
  { name: 'minimal', spec: base, valid: true },
  { name: 'memory units in capitals', spec: { maxMemory: '1GB' }, valid: true },
  { name: 'memory in plain bytes', spec: { maxMemory: '1073741824' }, valid: true },
  { name: 'memory in kb', spec: { maxMemory: '100kb' }, valid: true },
  { name: 'fraction as a string', spec: { ...base, resources: { limits: { cpu: '0.5', memory: '1Gi' } } }, valid: true },
  {
    name: 'every field',
    valid: true,
    spec: {
      ...REFERENCE,
      tag: '7.2',
      imagePullPolicy: 'IfNotPresent',
      imagePullSecrets: [{ name: 'reg' }],
      maxMemoryPolicy: 'allkeys-lru',
      hostNetwork: false,
      clusterNodeTimeout: 15000,
      allowDataLoss: true,
      securityContext: { runAsUser: 999, fsGroup: 999 },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'redis', effect: 'NoSchedule', extra: 'kept' }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } },
      persistence: { enabled: true, storageClass: 'fast', size: '10Gi' },
      exporter: { enabled: true, image: 'my/exporter', tag: 'v1', resources: REFERENCE.exporterResources },
      passwordSecret: { name: 'redis-auth', key: 'password' },
      redisConfig: { appendonly: 'yes', save: '' },
      autoscaling: {
        enabled: true,
        minMasters: 3,
        maxMasters: 6,
        minReplicas: 1,
        maxReplicas: 2,
        cooldownSeconds: 60,
        actions: { HighMemoryUsage: { direction: 'add', count: 2 } },
      },
    },
  },
  { name: 'masters above the default max while autoscaling is off', spec: { ...base, masters: 12 }, valid: true },
  { name: 'largest cluster at the highest basePort', spec: { ...base, masters: 500, replicas: 1, basePort: 54536 }, valid: true },

  { name: 'two masters', spec: { ...base, masters: 2 }, valid: false, path: 'spec.masters', by: 'schema' },
  { name: 'fractional masters', spec: { ...base, masters: 3.5 }, valid: false, path: 'spec.masters', by: 'schema' },
  { name: 'masters as a string', spec: { ...base, masters: '3' }, valid: false, path: 'spec.masters', by: 'schema' },
  { name: 'six replicas', spec: { ...base, replicas: 6 }, valid: false, path: 'spec.replicas', by: 'schema' },
  { name: 'privileged basePort', spec: { ...base, basePort: 80 }, valid: false, path: 'spec.basePort', by: 'schema' },
  { name: 'basePort too high for any cluster', spec: { ...base, basePort: 60000 }, valid: false, path: 'spec.basePort', by: 'schema' },
  { name: 'no maxMemory', spec: {}, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'maxMemory unit', spec: { maxMemory: '512MBs' }, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'maxMemory fraction', spec: { maxMemory: '1.5gb' }, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'maxMemory zero', spec: { maxMemory: '0' }, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'maxMemory number', spec: { maxMemory: 512 }, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'maxMemory over 1 PB', spec: { maxMemory: '1000000gb' }, valid: false, path: 'spec.maxMemory', by: 'schema' },
  { name: 'eviction policy', spec: { ...base, maxMemoryPolicy: 'lru' }, valid: false, path: 'spec.maxMemoryPolicy', by: 'schema' },
  {
    name: 'fractional cpu number',
    spec: { ...base, resources: { limits: { cpu: 0.5 } } },
    valid: false,
    path: 'spec.resources.limits.cpu',
    by: 'schema',
  },
  {
    name: 'bad quantity',
    spec: { ...base, resources: { requests: { memory: '1Gx' } } },
    valid: false,
    path: 'spec.resources.requests.memory',
    by: 'schema',
  },
  {
    name: 'quantity as a boolean',
    spec: { ...base, exporterResources: { limits: { cpu: true } } },
    valid: false,
    path: 'spec.exporterResources.limits.cpu',
    by: 'schema',
  },
  { name: 'unknown field', spec: { ...base, mastres: 4 }, valid: false, path: 'spec.mastres', by: 'schema' },
  {
    name: 'unknown nested field',
    spec: { ...base, persistence: { enable: true } },
    valid: false,
    path: 'spec.persistence.enable',
    by: 'schema',
  },
  { name: 'pull policy', spec: { ...base, imagePullPolicy: 'Sometimes' }, valid: false, path: 'spec.imagePullPolicy', by: 'schema' },
  {
    name: 'toleration effect',
    spec: { ...base, tolerations: [{ effect: 'Never' }] },
    valid: false,
    path: 'spec.tolerations[0].effect',
    by: 'schema',
  },
  { name: 'hostNetwork as text', spec: { ...base, hostNetwork: 'yes' }, valid: false, path: 'spec.hostNetwork', by: 'schema' },
  { name: 'allowDataLoss as text', spec: { ...base, allowDataLoss: 'yes' }, valid: false, path: 'spec.allowDataLoss', by: 'schema' },
  { name: 'node timeout', spec: { ...base, clusterNodeTimeout: 500 }, valid: false, path: 'spec.clusterNodeTimeout', by: 'schema' },
  { name: 'volume size', spec: { ...base, persistence: { size: 'big' } }, valid: false, path: 'spec.persistence.size', by: 'schema' },
  {
    name: 'secret name',
    spec: { ...base, passwordSecret: { name: 'Bad_Name' } },
    valid: false,
    path: 'spec.passwordSecret.name',
    by: 'schema',
  },
  {
    name: 'secret without name',
    spec: { ...base, passwordSecret: { key: 'pw' } },
    valid: false,
    path: 'spec.passwordSecret.name',
    by: 'schema',
  },
  { name: 'empty image', spec: { ...base, image: '' }, valid: false, path: 'spec.image', by: 'schema' },
  { name: 'tag with a space', spec: { ...base, tag: 'v 1' }, valid: false, path: 'spec.tag', by: 'schema' },
  { name: 'node selector value', spec: { ...base, nodeSelector: { a: 1 } }, valid: false, path: 'spec.nodeSelector.a', by: 'schema' },
  {
    name: 'pull secret without name',
    spec: { ...base, imagePullSecrets: [{}] },
    valid: false,
    path: 'spec.imagePullSecrets[0].name',
    by: 'schema',
  },
  {
    name: 'multi-line setting',
    spec: { ...base, redisConfig: { save: '60 1\nport 7000' } },
    valid: false,
    path: 'spec.redisConfig.save',
    by: 'schema',
  },
  { name: 'setting as a number', spec: { ...base, redisConfig: { hz: 10 } }, valid: false, path: 'spec.redisConfig.hz', by: 'schema' },
  {
    name: 'minMasters below 3',
    spec: { ...base, autoscaling: { minMasters: 2 } },
    valid: false,
    path: 'spec.autoscaling.minMasters',
    by: 'schema',
  },
  {
    name: 'cooldown of two days',
    spec: { ...base, autoscaling: { cooldownSeconds: 172800 } },
    valid: false,
    path: 'spec.autoscaling.cooldownSeconds',
    by: 'schema',
  },
  {
    name: 'action direction',
    spec: { ...base, autoscaling: { actions: { HighThroughput: { direction: 'up' } } } },
    valid: false,
    path: 'spec.autoscaling.actions.HighThroughput.direction',
    by: 'schema',
  },
  {
    name: 'action without direction',
    spec: { ...base, autoscaling: { actions: { X: { target: 'masters' } } } },
    valid: false,
    path: 'spec.autoscaling.actions.X.direction',
    by: 'schema',
  },
  {
    name: 'action count 0',
    spec: { ...base, autoscaling: { actions: { X: { direction: 'add', count: 0 } } } },
    valid: false,
    path: 'spec.autoscaling.actions.X.count',
    by: 'schema',
  },

  { name: 'bus ports over 65535', spec: { ...base, basePort: 55533 }, valid: false, path: 'spec.basePort', by: 'cel' },
  { name: 'more than 1000 nodes', spec: { ...base, masters: 600 }, valid: false, path: 'spec.masters', by: 'cel' },
  {
    name: 'minMasters over maxMasters',
    spec: { ...base, autoscaling: { minMasters: 6, maxMasters: 5 } },
    valid: false,
    path: 'spec.autoscaling.minMasters',
    by: 'cel',
  },
  {
    name: 'minReplicas over maxReplicas',
    spec: { ...base, autoscaling: { minReplicas: 3, maxReplicas: 2 } },
    valid: false,
    path: 'spec.autoscaling.minReplicas',
    by: 'cel',
  },
  {
    name: 'masters outside the autoscaling bounds',
    spec: { ...base, masters: 12, autoscaling: { enabled: true } },
    valid: false,
    path: 'spec.masters',
    by: 'cel',
  },
  {
    name: 'replicas outside the autoscaling bounds',
    spec: { ...base, replicas: 0, autoscaling: { enabled: true, minReplicas: 1 } },
    valid: false,
    path: 'spec.replicas',
    by: 'cel',
  },
  {
    name: 'autoscaling past 1000 nodes',
    spec: { ...base, autoscaling: { enabled: true, maxMasters: 400 } },
    valid: false,
    path: 'spec.autoscaling.maxMasters',
    by: 'cel',
  },
  {
    name: 'autoscaling past the port range',
    spec: { ...base, basePort: 55500, autoscaling: { enabled: true } },
    valid: false,
    path: 'spec.basePort',
    by: 'cel',
  },
  {
    name: 'both exporter resources, different',
    spec: { ...base, exporterResources: { limits: { cpu: '100m' } }, exporter: { resources: { limits: { cpu: '200m' } } } },
    valid: false,
    path: 'spec.exporterResources',
    by: 'cel',
  },
  { name: 'owned setting', spec: { ...base, redisConfig: { port: '7000' } }, valid: false, path: 'spec.redisConfig.port', by: 'cel' },
  {
    name: 'owned setting in capitals',
    spec: { ...base, redisConfig: { PORT: '7000' } },
    valid: false,
    path: 'spec.redisConfig.PORT',
    by: 'zod',
  },
  {
    name: 'owned prefix',
    spec: { ...base, redisConfig: { 'cluster-announce-future': 'x' } },
    valid: false,
    path: 'spec.redisConfig.cluster-announce-future',
    by: 'zod',
  },
  {
    name: 'setting name with a space',
    spec: { ...base, redisConfig: { 'bad key': 'x' } },
    valid: false,
    path: 'spec.redisConfig["bad key"]',
    by: 'zod',
  },
];

describe('the CRD and zod give the same verdict', () => {
  for (const c of CASES) {
    it(`${c.valid ? 'valid' : `invalid (${c.by})`}: ${c.name}`, () => {
      const zod = validateSpec(c.spec);
      const server = apiServer(object(c.spec));
      if (c.valid) {
        expect(zod.ok, JSON.stringify(zod)).toBe(true);
        expect(server.valid, JSON.stringify(server.errors)).toBe(true);
        return;
      }
      expect(zod.ok).toBe(false);
      const zodPaths = zod.ok ? [] : zod.errors.map((e) => e.path);
      expect(zodPaths, JSON.stringify(zod)).toContain(c.path);
      // a missing field is reported on its parent; every other error on the field itself
      const wanted = c.path.replace(/\[(\d+)\]/g, '.$1').replace(/\["([^"]+)"\]/g, '.$1');
      const onField = (errors: { path: string }[]) => errors.some((e) => e.path === wanted || wanted.startsWith(`${e.path}.`));
      if (c.by === 'zod') {
        expect(server.valid, JSON.stringify(server.errors)).toBe(true);
        return;
      }
      expect(server.valid).toBe(false);
      expect(onField(server.errors), JSON.stringify(server.errors)).toBe(true);
      // who decided: without CEL, only the 'schema' cases fail
      expect(schemaOnly(object(c.spec)).valid, `a ${c.by} case`).toBe(c.by === 'cel');
    });
  }
});

describe('defaults agree', () => {
  it('the API server fills in what zod would, field for field', () => {
    for (const c of CASES.filter((x) => x.valid)) {
      const server = apiServer(object(c.spec));
      const defaultedByServer = (server.object as { spec: unknown }).spec;
      expect(defaultedByServer, c.name).toEqual(specSchema.parse(c.spec));
      // and a spec the server defaulted reads the same to the operator
      expect(validateSpec(defaultedByServer), c.name).toEqual(validateSpec(c.spec));
    }
  });
});

describe('status', () => {
  const status = {
    phase: 'Resharding',
    conditions: [
      {
        type: 'Ready',
        status: 'False',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        reason: 'Resharding',
        message: 'moving slots',
        observedGeneration: 3,
      },
      { type: 'Progressing', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'ScaleOut', message: '' },
    ],
    observedGeneration: 3,
    readyMasters: 4,
    readyReplicas: 4,
    nodes: [{ id: 'abc', pod: 'c-0', ip: '10.0.0.1', port: 10000, role: 'master', slots: ['0-4095', '16383'] }],
    reshard: { state: 'Running', slotsDone: 1, slotsTotal: 4096, currentMoves: [{ source: 'a', target: 'b', slots: ['0-9'] }] },
    lastScaleTime: '2026-01-01T00:00:00Z',
    replicas: 4,
    selector: 'app.kubernetes.io/name=redis-cluster,redis.redis/cluster=c',
  };
  const cases: [string, unknown, boolean][] = [
    ['a full status', status, true],
    ['unknown phase', { ...status, phase: 'Running' }, false],
    ['condition status Yes', { ...status, conditions: [{ ...status.conditions[0], status: 'Yes' }] }, false],
    ['condition without reason', { ...status, conditions: [{ ...status.conditions[0], reason: undefined }] }, false],
    ['two Ready conditions', { ...status, conditions: [status.conditions[0], status.conditions[0]] }, false],
    ['date that is not RFC 3339', { ...status, lastScaleTime: '2026-01-01 00:00' }, false],
    ['slot range with dots', { ...status, nodes: [{ ...status.nodes[0], slots: ['0..9'] }] }, false],
    ['negative ready count', { ...status, readyMasters: -1 }, false],
    ['selector as a map', { ...status, selector: { app: 'x' } }, false],
  ];
  for (const [name, value, valid] of cases) {
    it(`${valid ? 'accepts' : 'refuses'} ${name} on both sides`, () => {
      const clean = JSON.parse(JSON.stringify(value));
      expect(statusSchema.safeParse(clean).success).toBe(valid);
      expect(apiServer(object(base, clean)).valid).toBe(valid);
    });
  }
});

describe('examples', () => {
  const dir = resolve(root, 'examples');
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
  it('there are examples to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(`${file}: every RedisCluster is valid on both sides`, () => {
      const docs = parseAllDocuments(readFileSync(resolve(dir, file), 'utf8')).map((d) => d.toJSON());
      for (const doc of docs.filter((d) => d?.kind === 'RedisCluster')) {
        expect(validateSpec(doc.spec)).toMatchObject({ ok: true });
        expect(apiServer(doc).errors).toEqual([]);
      }
    });
  }
});
