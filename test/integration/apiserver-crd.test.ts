// The project's own RedisCluster CRD and examples on the embedded API server: accepted, defaulted,
// validated (OpenAPI bounds and its CEL rules), scaled, printed; plus the CEL evaluator on its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { compileRule } from '../../local/apiserver/validation/cel.js';
import { startTestApi, statusOf, type TestApi } from '../helpers/platform-api.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CRD_FILE = join(ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml');
const G = { group: 'redis.redis', version: 'v1beta1', plural: 'redisclusters' };
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function docs(file: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Record<string, any>)
    .filter(Boolean);
}

describe('CEL rules', () => {
  it('evaluates the operators and macros CRD rules use', () => {
    const self = { masters: 3, replicas: 2, basePort: 10000, name: 'abc', list: [1, 2, 3], map: { a: 1 }, conf: { appendonly: 'yes' } };
    const holds = (rule: string) => compileRule(rule).check(self);
    expect(holds('self.masters * (1 + self.replicas) <= 9')).toBe(true);
    expect(holds('self.masters * (1 + self.replicas) <= 8')).toBe(false);
    expect(holds('self.basePort + self.masters - 1 + 10000 <= 65535')).toBe(true);
    expect(holds('!has(self.autoscaling) || self.autoscaling.min <= 1')).toBe(true);
    expect(holds('has(self.map) && self.map.a == 1 && size(self.list) == 3 && self.list.size() == 3')).toBe(true);
    expect(holds("['maxmemory', 'port'].all(k, !(k in self.conf))")).toBe(true);
    expect(holds("['appendonly'].all(k, !(k in self.conf))")).toBe(false);
    expect(holds('self.list.exists(x, x > 2) && self.list.all(x, x > 0) && self.list.exists_one(x, x == 2)')).toBe(true);
    expect(holds("self.name.startsWith('ab') && self.name.matches('^[a-c]+$') && self.name != 'x'")).toBe(true);
    expect(holds('self.masters > 5 ? false : true')).toBe(true);
    expect(holds('{"a": 1} == self.map && [1, 2, 3] == self.list')).toBe(true);
    // A missing field is an evaluation error, which a rule reports as a violation.
    expect(() => compileRule('self.nothing == 1').check(self)).toThrow(/no such key/);
    expect(compileRule('self.x == oldSelf.x').usesOldSelf).toBe(true);
    expect(() => compileRule('self.list.sortBy(x)')).not.toThrow();
    expect(() => compileRule('self.list.sortBy(x)').check(self)).toThrow();
  });
});

describe('the project CRD', () => {
  let api: TestApi;
  let custom: CustomObjectsApi;
  const logs: string[] = [];

  beforeAll(async () => {
    api = await startTestApi({ log: (m) => logs.push(m) });
    custom = api.kc.makeApiClient(CustomObjectsApi);
    for (const crd of docs(CRD_FILE)) {
      await custom.createClusterCustomObject({
        group: 'apiextensions.k8s.io',
        version: 'v1',
        plural: 'customresourcedefinitions',
        body: crd,
      });
    }
  });
  afterAll(async () => {
    await api?.close();
  });

  it('evaluates every CEL rule of the CRD', () => {
    expect(logs.filter((l) => l.includes('rule not enforced'))).toEqual([]);
  });

  it('accepts every example and fills in the defaults', async () => {
    const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.yaml'));
    let clusters = 0;
    for (const file of examples) {
      for (const obj of docs(join(ROOT, 'examples', file))) {
        if (obj.kind !== 'RedisCluster') continue;
        const ns = obj.metadata.namespace ?? 'default';
        const created = (await custom.createNamespacedCustomObject({ ...G, namespace: ns, body: obj })) as any;
        expect(created.spec.masters).toBeGreaterThanOrEqual(3);
        expect(created.metadata.generation).toBe(1);
        clusters++;
      }
    }
    expect(clusters).toBeGreaterThan(0);
    const list = (await custom.listClusterCustomObject({ ...G })) as any;
    expect(list.items).toHaveLength(clusters);
  });

  it('rejects too few masters and a rule violation, naming the field', async () => {
    const body = (spec: Record<string, unknown>, name: string) => ({
      apiVersion: 'redis.redis/v1beta1',
      kind: 'RedisCluster',
      metadata: { name, namespace: 'cache' },
      spec: { image: 'redis:7', basePort: 10000, maxMemory: '256mb', ...spec },
    });
    let failure: any;
    try {
      await custom.createNamespacedCustomObject({ ...G, namespace: 'cache', body: body({ masters: 2 }, 'two') });
    } catch (err) {
      failure = statusOf(err);
    }
    expect(failure.code).toBe(422);
    expect(failure.message).toContain('RedisCluster.redis.redis "two" is invalid: ');
    expect(failure.details.causes.map((c: any) => c.field)).toContain('spec.masters');

    failure = undefined;
    try {
      await custom.createNamespacedCustomObject({ ...G, namespace: 'cache', body: body({ masters: 500, replicas: 2 }, 'huge') });
    } catch (err) {
      failure = statusOf(err);
    }
    // Within the field bounds, but over the CEL rule masters * (1 + replicas) <= 1000.
    expect(failure?.code).toBe(422);
    expect(failure.details.causes).toHaveLength(1);
    expect(failure.details.causes[0].field).toBe('spec.masters');
    expect(failure.details.causes[0].message).toMatch(/^Invalid value: "object": masters \* \(1 \+ replicas\) must be at most 1000/);
  });

  it('scales through /scale and reports status replicas and the selector', async () => {
    const scale = (await custom.getNamespacedCustomObjectScale({ ...G, namespace: 'cache', name: 'rediscluster1' })) as any;
    expect(scale.spec.replicas).toBe(3);
    await custom.patchNamespacedCustomObjectStatus(
      {
        ...G,
        namespace: 'cache',
        name: 'rediscluster1',
        body: { status: { replicas: 3, selector: 'app=redis-cluster,cluster=rediscluster1' } },
      },
      merge,
    );
    const patched = (await custom.patchNamespacedCustomObjectScale(
      { ...G, namespace: 'cache', name: 'rediscluster1', body: { spec: { replicas: 4 } } },
      merge,
    )) as any;
    expect(patched).toMatchObject({ spec: { replicas: 4 }, status: { replicas: 3, selector: 'app=redis-cluster,cluster=rediscluster1' } });
    const after = (await custom.getNamespacedCustomObject({ ...G, namespace: 'cache', name: 'rediscluster1' })) as any;
    expect(after.spec.masters).toBe(4);
  });

  it('answers a Table with the printer columns', async () => {
    const res = await fetch(`${api.url}/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/rediscluster1`, {
      headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' },
    });
    const table = (await res.json()) as any;
    expect(table.kind).toBe('Table');
    const names = table.columnDefinitions.map((c: any) => c.name);
    expect(names.slice(0, 5)).toEqual(['Name', 'MASTERS', 'REPLICAS', 'MAXMEMORY', 'BASEPORT']);
    expect(names).toContain('AGE');
    expect(table.rows[0].cells.slice(0, 5)).toEqual(['rediscluster1', 4, 1, '512mb', 10000]);
  });
});
