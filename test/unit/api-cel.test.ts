import { describe, expect, it } from 'vitest';
import { CelError, compileRule, type CompiledRule } from '../../local/apiserver/validation/cel.js';
import { SPEC_RULES, specFields } from '../../shared/api/index.js';

const compiled = new Map<string, CompiledRule>();
function evaluateRule(rule: string, self: unknown): boolean {
  if (!compiled.has(rule)) compiled.set(rule, compileRule(rule));
  return compiled.get(rule)!.check(self);
}

describe('CEL rules', () => {
  const self = { a: 3, b: 'x', m: { k: 'v' }, l: [1, 2], nested: { on: true }, f: 0.5 };

  it('evaluates arithmetic with precedence, comparison and logic', () => {
    expect(evaluateRule('self.a * (1 + 2) - 1 == 8', self)).toBe(true);
    expect(evaluateRule('self.a + 2 * 3 == 9', self)).toBe(true);
    expect(evaluateRule('self.a <= 3 && self.a > 2 && !(self.a >= 4)', self)).toBe(true);
    expect(evaluateRule('self.a == 4 || self.b == "x"', self)).toBe(true);
    expect(evaluateRule("self.b != 'x'", self)).toBe(false);
    expect(evaluateRule('-self.a == 0 - 3', self)).toBe(true);
  });

  it('has(), in and all() over lists and maps', () => {
    expect(evaluateRule('has(self.nested) && self.nested.on', self)).toBe(true);
    expect(evaluateRule('has(self.missing)', self)).toBe(false);
    expect(evaluateRule("'k' in self.m && !('z' in self.m)", self)).toBe(true);
    expect(evaluateRule('2 in self.l', self)).toBe(true);
    expect(evaluateRule("['port', 'bind'].all(k, !(k in self.m))", self)).toBe(true);
    expect(evaluateRule("['k'].all(k, !(k in self.m))", self)).toBe(false);
    expect(evaluateRule('self.m.all(k, k == "k")', self)).toBe(true);
  });

  it('compares objects deeply and never equates an int with a string', () => {
    expect(evaluateRule('self.m == self.m', self)).toBe(true);
    expect(evaluateRule('self.nested == self.m', self)).toBe(false);
    expect(evaluateRule("self.a == '3'", self)).toBe(false);
  });

  it('errors on an absent field unless the other side of && or || decides', () => {
    expect(() => evaluateRule('self.missing == 1', self)).toThrow(/no such key: missing/);
    expect(evaluateRule('!has(self.missing) || self.missing.x == 1', self)).toBe(true);
    expect(evaluateRule('self.missing.x == 1 || true', self)).toBe(true);
    expect(evaluateRule('self.missing.x == 1 && false', self)).toBe(false);
    expect(() => evaluateRule('self.missing.x == 1 && true', self)).toThrow(CelError);
  });

  it('refuses type errors, a rule that is not a bool, bad syntax and undeclared names', () => {
    expect(() => evaluateRule('self.b + 1 == 2', self)).toThrow(/no matching overload for '_\+_' applied to '\(string, int\)'/);
    expect(() => evaluateRule('self.a', self)).toThrow(/expected a bool, got int/);
    expect(() => evaluateRule('self.a ? 1 : 2', self)).toThrow(CelError);
    expect(() => compileRule('(self.a == 1')).toThrow(/end of input/);
    expect(() => evaluateRule('other == 1', self)).toThrow(/undeclared reference to 'other'/);
  });

  it('compares an int with a double by value, as Kubernetes does', () => {
    expect(evaluateRule('self.f < 1', self)).toBe(true);
    expect(evaluateRule('self.a == 3.0', self)).toBe(true);
  });
});

// A small deterministic generator, so a failure names a reproducible spec.
function random(seed: number) {
  let state = seed >>> 0;
  // mulberry32
  return (n: number) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
  };
}

describe('every CEL rule of the CRD says what its zod predicate says', () => {
  const next = random(20261124);
  const pick = <T>(...choices: T[]) => choices[next(choices.length)]!;
  const specs: unknown[] = [];
  for (let i = 0; i < 3000; i++) {
    const masters = pick(3, 3 + next(10), 3 + next(998));
    const replicas = next(6);
    const limits = (cpu: string | number) => ({ limits: { cpu } });
    const spec: Record<string, unknown> = {
      maxMemory: '1gb',
      masters,
      replicas,
      basePort: pick(10000, 1024 + next(54510), 55533 - next(1200)),
    };
    const shape = next(4);
    if (shape > 0) {
      spec.autoscaling = {
        ...(shape > 1 ? { enabled: next(2) === 1 } : {}),
        minMasters: 3 + next(15),
        maxMasters: pick(3 + next(15), 3 + next(400)),
        minReplicas: next(6),
        maxReplicas: next(6),
      };
    }
    const exporter = next(6);
    if (exporter === 1) spec.exporterResources = limits('100m');
    if (exporter === 2) spec.exporter = { resources: limits('100m') };
    if (exporter === 3) Object.assign(spec, { exporterResources: limits('100m'), exporter: { resources: limits('100m') } });
    if (exporter === 5)
      Object.assign(spec, { exporterResources: limits('1'), exporter: { resources: { ...limits('1'), requests: { cpu: '1' } } } });
    if (exporter === 4)
      Object.assign(spec, { exporterResources: limits(1), exporter: { resources: limits(pick<string | number>('1', 2, '1')) } });
    specs.push(spec);
  }

  for (const rule of SPEC_RULES) {
    it(`${rule.field}: ${rule.cel}`, () => {
      let held = 0;
      for (const spec of specs) {
        // the fields as the API server sees them after defaulting (shown equal to zod's in api-crd)
        const fields = specFields.parse(spec);
        const cel = evaluateRule(rule.cel, fields);
        expect(cel, JSON.stringify(spec)).toBe(rule.holds(fields));
        if (cel) held++;
      }
      // the sample exercises both outcomes of the rule
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThan(specs.length);
    });
  }
});
