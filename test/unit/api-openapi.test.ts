import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SchemaConversionError, re2Problem, structuralProblems, toStructural } from '../../shared/api/openapi.js';
import { openApiValidator } from '../helpers/crd-validator.js';

const convert = (schema: z.ZodType) => toStructural(z.toJSONSchema(schema, { io: 'input' }));

describe('toStructural: zod JSON Schema to a structural OpenAPI v3 schema', () => {
  it('drops $schema, additionalProperties: false and the safe-integer bounds zod adds', () => {
    const out = convert(z.strictObject({ n: z.number().int(), m: z.number().int().min(1).max(9) }));
    expect(out).toEqual({
      type: 'object',
      required: ['n', 'm'],
      properties: { n: { type: 'integer' }, m: { type: 'integer', minimum: 1, maximum: 9 } },
    });
  });

  it('keeps defaults and leaves defaulted fields out of required', () => {
    const out = convert(z.strictObject({ a: z.string().default('x'), b: z.boolean() }));
    expect(out.required).toEqual(['b']);
    expect((out.properties as any).a).toEqual({ type: 'string', default: 'x' });
  });

  it('turns a string|integer union into int-or-string, keeping the pattern and bounds', () => {
    const out = convert(
      z
        .union([
          z
            .string()
            .max(10)
            .regex(/^[0-9]+m?$/),
          z.number().int().min(0),
        ])
        .default('1'),
    );
    expect(out).toEqual({
      default: '1',
      maxLength: 10,
      minimum: 0,
      pattern: '^[0-9]+m?$',
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      'x-kubernetes-int-or-string': true,
    });
  });

  it('maps free-form objects to preserve-unknown-fields and maps to additionalProperties', () => {
    const out = convert(
      z.strictObject({
        free: z.record(z.string(), z.unknown()),
        loose: z.looseObject({ k: z.string() }),
        labels: z.record(z.string(), z.string()),
      }),
    );
    const props = out.properties as Record<string, unknown>;
    expect(props.free).toEqual({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    expect(props.loose).toEqual({
      type: 'object',
      required: ['k'],
      properties: { k: { type: 'string' } },
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(props.labels).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
  });

  it('turns nullable into nullable: true and const into a one-value enum', () => {
    expect(convert(z.string().nullable())).toEqual({ type: 'string', nullable: true });
    expect(convert(z.literal('v1'))).toEqual({ type: 'string', enum: ['v1'] });
  });

  it('keeps several patterns as an allOf of value validations', () => {
    expect(convert(z.string().regex(/^a/).regex(/b$/))).toEqual({ type: 'string', allOf: [{ pattern: '^a' }, { pattern: 'b$' }] });
  });

  it('carries x-kubernetes-* metadata through', () => {
    const out = convert(z.strictObject({ a: z.number().int() }).meta({ 'x-kubernetes-validations': [{ rule: 'self.a > 1' }] }));
    expect(out['x-kubernetes-validations']).toEqual([{ rule: 'self.a > 1' }]);
  });

  it("drops zod's own pattern on date-times, keeping the format", () => {
    expect(convert(z.iso.datetime())).toEqual({ type: 'string', format: 'date-time' });
  });

  it('refuses what a structural schema cannot say', () => {
    const cases: [string, z.ZodType, RegExp][] = [
      [
        'a union of objects',
        z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.string() })]),
        /anyOf other than int-or-string/,
      ],
      [
        'a recursive type',
        z.object({
          get child() {
            return z.array(z.lazy(() => tree)).optional();
          },
        }),
        /\$ref|\$defs/,
      ],
      ['an exclusive bound', z.number().gt(0), /exclusiveMinimum/],
      ['a map with key constraints', z.record(z.string().regex(/^a/), z.string()), /map keys/],
      ['a tuple', z.tuple([z.string(), z.number()]), /prefixItems|items/],
    ];
    const tree: z.ZodType = cases[1]![1];
    for (const [name, schema, message] of cases) {
      expect(() => convert(schema), name).toThrow(SchemaConversionError);
      expect(() => convert(schema), name).toThrow(message);
    }
  });

  it('refuses a $ref anywhere', () => {
    expect(() => toStructural({ type: 'object', properties: { a: { $ref: '#/$defs/x' } } })).toThrow(/\.a: keyword "\$ref"/);
  });
});

describe('structuralProblems', () => {
  it('passes a structural schema', () => {
    expect(structuralProblems(convert(z.strictObject({ a: z.array(z.string()), q: z.union([z.string(), z.number().int()]) })))).toEqual([]);
  });

  it('finds each kind of violation', () => {
    const bad = {
      $schema: 'x',
      type: 'object',
      properties: {
        untyped: { description: 'no type' },
        both: { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } },
        closed: { type: 'object', additionalProperties: false },
        ref: { $ref: '#/x' },
        ios: { type: 'string', 'x-kubernetes-int-or-string': true },
        typedJunctor: { type: 'string', anyOf: [{ type: 'string' }] },
        lookahead: { type: 'string', pattern: '^(?!x)' },
        set: { type: 'array', items: { type: 'string' }, uniqueItems: true },
        noItems: { type: 'array' },
        mapList: {
          type: 'array',
          items: { type: 'object', properties: { k: { type: 'string' } } },
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['k'],
        },
      },
    };
    const problems = structuralProblems(bad).join('\n');
    for (const expected of [
      '(root): keyword $schema is not allowed',
      '.untyped: has no valid type',
      '.both: properties and additionalProperties are mutually exclusive',
      '.closed: additionalProperties must be a schema',
      '.ref: keyword $ref is not allowed',
      '.ios: int-or-string must not have a type',
      '.typedJunctor.anyOf[0]: type is not allowed inside allOf/anyOf/oneOf/not',
      '.lookahead: pattern uses look-around',
      '.set: uniqueItems is not allowed',
      '.noItems: an array needs items',
      '.mapList: map key k must be required in items',
    ]) {
      expect(problems).toContain(expected);
    }
  });

  it('re2Problem spots JavaScript-only regex features', () => {
    expect(re2Problem('^[a-z]+$')).toBeUndefined();
    expect(re2Problem('(?<=a)b')).toMatch(/look-around/);
    expect(re2Problem('(a)\\1')).toMatch(/back-reference/);
  });
});

describe('openApiValidator', () => {
  const schema = convert(
    z.strictObject({
      size: z.union([z.string().regex(/^[0-9]+(Mi|Gi)?$/), z.number().int().min(0)]).default('1Gi'),
      mode: z.enum(['a', 'b']).default('a'),
      nested: z.strictObject({ on: z.boolean().default(true) }).prefault({}),
      free: z.record(z.string(), z.unknown()).optional(),
      list: z
        .array(z.strictObject({ type: z.string(), v: z.number().int().optional() }))
        .optional()
        .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    }),
  );
  const validate = openApiValidator(schema);

  it('applies defaults, nested ones included', () => {
    const r = validate({});
    expect(r.valid).toBe(true);
    expect(r.object).toEqual({ size: '1Gi', mode: 'a', nested: { on: true } });
  });

  it('treats int-or-string as the API server does', () => {
    expect(validate({ size: 5 }).valid).toBe(true);
    expect(validate({ size: '5Gi' }).valid).toBe(true);
    expect(validate({ size: 0.5 }).valid).toBe(false);
    expect(validate({ size: true }).valid).toBe(false);
    expect(validate({ size: '5Gx' }).valid).toBe(false);
  });

  it('refuses unknown fields except under preserve-unknown-fields, unless told to let them through', () => {
    const r = validate({ other: 1 });
    expect(r.valid).toBe(false);
    expect(r.errors).toContainEqual({ path: 'other', message: 'unknown field' });
    expect(validate({ free: { anything: { at: ['all'] } } }).valid).toBe(true);
    expect(openApiValidator(schema, { strictFields: false })({ other: 1 }).valid).toBe(true);
  });

  it('refuses duplicate keys in a map list', () => {
    expect(validate({ list: [{ type: 'A' }, { type: 'B' }] }).valid).toBe(true);
    expect(validate({ list: [{ type: 'A' }, { type: 'A', v: 1 }] }).valid).toBe(false);
  });
});
