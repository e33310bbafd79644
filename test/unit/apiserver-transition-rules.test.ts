import { describe, expect, it } from 'vitest';
import { compileRule } from '../../local/apiserver/validation/cel.js';
import { compileCrdSchema } from '../../local/apiserver/validation/openapi.js';
import { compareQuantities, decimalQuantity } from '../../shared/api/quantity.js';
import type { JsonSchema } from '../../shared/api/openapi.js';

describe('quantities compared by value', () => {
  it('is exact across suffixes, exponents and fractions', () => {
    expect(compareQuantities('1Gi', '1024Mi')).toBe(0);
    expect(compareQuantities('1Gi', 1073741824)).toBe(0);
    expect(compareQuantities('1G', '1Gi')).toBe(-1);
    expect(compareQuantities('1.5Gi', '1536Mi')).toBe(0);
    expect(compareQuantities('100m', '0.1')).toBe(0);
    expect(compareQuantities('1e3', '1k')).toBe(0);
    expect(compareQuantities('2Gi', '2147483647')).toBe(1);
    expect(decimalQuantity('-1.50k')).toEqual({ coefficient: -15n, exponent: 2 });
    expect(() => decimalQuantity('1 Gi')).toThrow(/invalid quantity/);
  });
});

describe("Kubernetes' CEL quantity library", () => {
  const holds = (rule: string) => compileRule(rule).check({});

  it('parses, compares and adds quantities as kube-apiserver does', () => {
    expect(holds("quantity('1Gi') == quantity('1024Mi') && quantity('1Gi') != quantity('1G')")).toBe(true);
    expect(holds("quantity('2Gi').isGreaterThan(quantity('1Gi')) && quantity('1Gi').isLessThan(quantity('2G'))")).toBe(true);
    expect(holds("quantity('1Gi').compareTo(quantity('1024Mi')) == 0 && quantity('1').compareTo(quantity('2')) == -1")).toBe(true);
    expect(holds("quantity('1Gi').add(quantity('1Gi')) == quantity('2Gi') && quantity('1k').sub(1) == quantity('999')")).toBe(true);
    expect(
      holds("quantity('1k').asInteger() == 1000 && !quantity('1.5').isInteger() && quantity('500m').asApproximateFloat() == 0.5"),
    ).toBe(true);
    expect(holds("quantity('-1').sign() == -1 && isQuantity('1Gi') && !isQuantity('1 Gi')")).toBe(true);
    expect(holds("type(quantity('1')) != string")).toBe(true);
  });

  it('refuses what is not a quantity in Kubernetes wording', () => {
    expect(() => holds("quantity('lots') == quantity('1')")).toThrow(/quantities must match the regular expression/);
    expect(() => holds("quantity('1.5').asInteger() == 1")).toThrow(/cannot convert value to integer/);
  });
});

describe('transition rules', () => {
  const schema: JsonSchema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          port: { type: 'integer', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'port is immutable' }] },
          size: { type: 'string' },
          owner: {
            type: 'object',
            'x-kubernetes-map-type': 'atomic',
            properties: { name: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'never checked' }] } },
          },
          members: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name'],
            items: {
              type: 'object',
              properties: { name: { type: 'string' }, weight: { type: 'integer' } },
              'x-kubernetes-validations': [
                { rule: 'self.weight >= oldSelf.weight', message: 'weight may only grow', fieldPath: '.weight' },
              ],
            },
          },
          tags: {
            type: 'array',
            items: { type: 'string', 'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'never checked either' }] },
          },
        },
        'x-kubernetes-validations': [
          {
            rule: '!has(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0',
            message: 'size may only grow',
            fieldPath: '.size',
            reason: 'FieldValueForbidden',
          },
          { rule: 'self.port > 0', message: 'port must be positive' },
        ],
      },
    },
  };
  const crd = compileCrdSchema(schema);
  const check = (spec: unknown, old?: unknown) => crd.validate({ spec }, old === undefined ? undefined : { spec: old });

  it('compile, and never run on create', () => {
    expect(crd.unsupportedRules).toEqual([]);
    expect(check({ port: 1, size: '1Gi', members: [{ name: 'a', weight: 1 }] })).toEqual([]);
    // The same object as an update from a different one fails every transition rule that correlates.
    expect(check({ port: 1, size: '1Gi' }, { port: 2, size: '2Gi' })).toEqual([
      { reason: 'FieldValueForbidden', field: 'spec.size', message: 'Forbidden: size may only grow' },
      { reason: 'FieldValueInvalid', field: 'spec.port', message: 'Invalid value: "integer": port is immutable' },
    ]);
  });

  it('see the old value at the same place and pass when it is unchanged or allowed', () => {
    expect(check({ port: 1, size: '1Gi' }, { port: 1, size: '1024Mi' })).toEqual([]);
    expect(check({ port: 1, size: '2Gi' }, { port: 1, size: '1Gi' })).toEqual([]);
    // A field absent before has no old value: its own transition rule does not run.
    expect(check({ port: 5 }, {})).toEqual([]);
  });

  it('correlate map-list items by their keys, and nothing in atomic lists or atomic objects', () => {
    const old = {
      port: 1,
      owner: { name: 'x' },
      tags: ['a'],
      members: [
        { name: 'a', weight: 5 },
        { name: 'b', weight: 1 },
      ],
    };
    const next = {
      port: 1,
      owner: { name: 'y' },
      tags: ['b'],
      members: [
        { name: 'b', weight: 2 },
        { name: 'a', weight: 4 },
        { name: 'c', weight: 0 },
      ],
    };
    expect(check(next, old)).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.members[1].weight', message: 'Invalid value: "object": weight may only grow' },
    ]);
  });

  it('report a rule that cannot be evaluated on its node, with the rule, as Kubernetes does', () => {
    expect(check({ port: 1, size: 'big' }, { port: 1, size: '1Gi' })).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec',
        message:
          'Invalid value: "object": quantities must match the regular expression \'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$\' evaluating rule: size may only grow',
      },
    ]);
  });

  it('are refused by a rule that is not a transition rule on create as well as on update', () => {
    expect(check({ port: -1 })).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec', message: 'Invalid value: "object": port must be positive' },
    ]);
  });
});
