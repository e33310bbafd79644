import { describe, expect, it } from 'vitest';
import { CelError, compileRule } from '../../local/apiserver/validation/cel.js';
import { validateName } from '../../local/apiserver/validation/names.js';
import { compileCrdSchema } from '../../local/apiserver/validation/openapi.js';
import { walkDeclared } from '../../local/apiserver/validation/walk.js';
import type { JsonSchema } from '../../shared/api/openapi.js';

describe('CEL rules', () => {
  it('types self by its schema: integer is int, number is double, whole numbers int without a schema', () => {
    const number = { type: 'object', properties: { x: { type: 'number' } } };
    const half = compileRule('self.x / 2 == 1');
    expect(half.check({ x: 3 })).toBe(true);
    expect(half.check({ x: 3 }, { type: 'object', properties: { x: { type: 'integer' } } })).toBe(true);
    // CEL has no int/double division: a double 3.0 needs a double divisor.
    expect(() => half.check({ x: 3 }, number)).toThrow(/no matching overload for '_\/_' applied to '\(double, int\)'/);
    expect(compileRule('self.x / 2.0 == 1.5').check({ x: 3 }, number)).toBe(true);
    const typed = compileRule('type(self.m.a) == double && type(self.l[0]) == int && type(self.l[1]) == double');
    expect(
      typed.check(
        { m: { a: 1 }, l: [2, 0.5] },
        { type: 'object', properties: { m: { type: 'object', additionalProperties: { type: 'number' } } } },
      ),
    ).toBe(true);
    expect(typed.check({ m: { a: 1 }, l: [2, 0.5] })).toBe(false);
  });

  it('has the standard library: strings, regexes, size and the macros', () => {
    const self = { name: 'redis-0', tags: ['a', 'b'], labels: { app: 'redis' } };
    expect(compileRule("self.name.startsWith('redis') && self.name.endsWith('-0') && self.name.contains('is')").check(self)).toBe(true);
    expect(compileRule("self.name.matches('^[a-z]+-[0-9]+$')").check(self)).toBe(true);
    expect(compileRule('size(self.tags) == 2 && self.labels.size() == 1').check(self)).toBe(true);
    expect(compileRule("self.tags.map(t, t + '!') == ['a!', 'b!'] && self.tags.filter(t, t == 'b').size() == 1").check(self)).toBe(true);
    expect(compileRule("self.labels.exists(k, k == 'app') && !self.tags.exists_one(t, t != 'c')").check(self)).toBe(true);
  });

  it('says "no such key" for an absent field, as Kubernetes does', () => {
    expect(() => compileRule('self.spec.masters > 0').check({})).toThrow(new CelError('no such key: spec'));
    expect(() => compileRule("self.labels['x'] == 'y'").check({ labels: {} })).toThrow(/no such key: x/);
  });

  it('refuses syntax errors when compiled, undeclared names when run', () => {
    expect(() => compileRule('self.a ==')).toThrow(CelError);
    const rule = compileRule('self.items.all(i, i > limit)');
    expect(() => rule.check({ items: [] })).toThrow(/undeclared reference to 'limit'/);
    // Macro variables and type names are declared.
    expect(compileRule('self.items.all(i, type(i) == int)').check({ items: [1, 2] })).toBe(true);
  });

  it('reuses one compiled rule for many values', () => {
    const rule = compileRule('self.masters * (1 + self.replicas) <= 1000');
    expect(rule.check({ masters: 500, replicas: 1 })).toBe(true);
    expect(rule.check({ masters: 500, replicas: 2 })).toBe(false);
  });
});

describe('a CRD schema', () => {
  const schema: JsonSchema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        required: ['size'],
        properties: {
          size: { type: 'integer', minimum: 1 },
          max: { type: 'integer', default: 5 },
          mode: { type: 'string', enum: ['a', 'b'] },
          since: { type: 'string', format: 'date-time' },
          email: { type: 'string', format: 'email' },
          tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
          conditions: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['type'],
            items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, status: { type: 'string' } } },
          },
        },
        'x-kubernetes-validations': [
          { rule: 'self.size <= self.max', message: 'must not exceed max', fieldPath: '.size' },
          { rule: 'self.size != 3', message: 'three is taken', reason: 'FieldValueForbidden' },
          { rule: 'self.size == oldSelf.size', message: 'is immutable', optionalOldSelf: true },
        ],
      },
    },
  };
  const crd = compileCrdSchema(schema);
  const admit = (spec: Record<string, unknown>) => {
    const obj: Record<string, unknown> = { spec };
    const removed = crd.prune(obj);
    crd.applyDefaults(obj);
    return { removed, causes: crd.validate(obj), obj };
  };

  it('lists the rules it cannot enforce when compiled', () => {
    expect(crd.unsupportedRules).toEqual(['self.size == oldSelf.size: optionalOldSelf is not supported']);
  });

  it('prunes unknown fields and applies defaults before the rules see the object', () => {
    const { removed, causes, obj } = admit({ size: 2, extra: true });
    expect(removed).toEqual(['spec.extra']);
    expect(causes).toEqual([]);
    expect(obj).toEqual({ spec: { size: 2, max: 5 } });
  });

  it('reports rule violations on their field with their reason', () => {
    expect(admit({ size: 6 }).causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.size', message: 'Invalid value: "object": must not exceed max' },
    ]);
    expect(admit({ size: 3 }).causes).toEqual([{ reason: 'FieldValueForbidden', field: 'spec', message: 'Forbidden: three is taken' }]);
  });

  it('reports schema errors in Kubernetes wording and then skips the rules', () => {
    expect(admit({ size: 0, max: 0, mode: 'c' }).causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec.size',
        message: 'Invalid value: 0: spec.size in body should be greater than or equal to 1',
      },
      { reason: 'FieldValueNotSupported', field: 'spec.mode', message: 'Unsupported value: "c": supported values: "a", "b"' },
    ]);
    expect(admit({}).causes).toEqual([{ reason: 'FieldValueRequired', field: 'spec.size', message: 'Required value' }]);
  });

  it('checks date-times and leaves formats it does not know alone', () => {
    expect(admit({ size: 1, since: '2026-01-01T00:00:00.5+01:00', email: 'not an address' }).causes).toEqual([]);
    expect(admit({ size: 1, since: '2026-01-01 00:00' }).causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec.since',
        message: 'Invalid value: "2026-01-01 00:00": spec.since in body must be of type date-time: "2026-01-01 00:00"',
      },
    ]);
  });

  it('refuses duplicates in map lists (by their keys) and set lists', () => {
    const conditions = [{ type: 'Ready', status: 'True' }, { type: 'Synced' }, { type: 'Ready', status: 'False' }];
    expect(admit({ size: 1, conditions, tags: ['a', 'b', 'a'] }).causes).toEqual([
      { reason: 'FieldValueDuplicate', field: 'spec.conditions[2]', message: 'Duplicate value: {"type":"Ready"}' },
      { reason: 'FieldValueDuplicate', field: 'spec.tags[2]', message: 'Duplicate value: "a"' },
    ]);
  });
});

describe('walking a resource with its schema', () => {
  it('visits every declared value with its Kubernetes path, parents first, and skips undeclared ones', () => {
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        nodes: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' } } } },
      },
    };
    const seen: string[] = [];
    walkDeclared({ labels: { app: 'redis' }, nodes: [{ port: 1, extra: 2 }], other: { x: 1 } }, schema, (_, node, path) => {
      seen.push(`${path || '(root)'}:${String(node.type)}`);
    });
    expect(seen).toEqual([
      '(root):object',
      'labels:object',
      'labels.app:string',
      'nodes:array',
      'nodes[0]:object',
      'nodes[0].port:integer',
    ]);
  });
});

describe('object names', () => {
  it('takes RFC 1123 subdomains, or labels for namespaces and services', () => {
    expect(validateName('a.b-c', false)).toBeUndefined();
    expect(validateName('a.b', true)?.field).toBe('metadata.name');
    expect(validateName('Upper', false)?.message).toMatch(/^Invalid value: "Upper": a lowercase RFC 1123 subdomain/);
  });
});
