// Configuration from the environment: defaults, and start-up errors that name the variable.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseConfigSchema, ConfigError, intVar, loadConfig } from '../../shared/runtime/index.js';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills the defaults of the common variables', () => {
    expect(loadConfig(baseConfigSchema, {})).toEqual({ PORT: 8080, LOG_LEVEL: 'info', MAX_BODY_BYTES: 1048576 });
  });

  it('reads what Knative and the manifests set; an empty value counts as unset', () => {
    const config = loadConfig(baseConfigSchema, {
      PORT: '9000',
      K_SERVICE: 'reconcile',
      K_REVISION: 'reconcile-00001',
      K_SINK: 'http://broker-ingress.knative-eventing.svc/redis-operator/default',
      LOG_LEVEL: '',
      MAX_BODY_BYTES: '2048',
      UNRELATED: 'x',
    });
    expect(config).toEqual({
      PORT: 9000,
      K_SERVICE: 'reconcile',
      K_REVISION: 'reconcile-00001',
      K_SINK: 'http://broker-ingress.knative-eventing.svc/redis-operator/default',
      LOG_LEVEL: 'info',
      MAX_BODY_BYTES: 2048,
    });
  });

  it('names every bad variable and its value', () => {
    const problems = problemsOf(() =>
      loadConfig(baseConfigSchema, { PORT: 'http', LOG_LEVEL: 'loud', K_SINK: 'broker', MAX_BODY_BYTES: '0' }),
    );
    expect(problems).toEqual([
      'PORT must be a port number (got "http")',
      'K_SINK must be a URL (got "broker")',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'MAX_BODY_BYTES must be at least 1 (got "0")',
    ]);
    expect(() => loadConfig(baseConfigSchema, { PORT: '70000' })).toThrow(
      'invalid configuration: PORT must be at most 65535 (got "70000")',
    );
  });

  it("extends to a function's own variables: a missing one is required, a secret is not echoed", () => {
    const schema = baseConfigSchema.extend({
      WEBHOOK_TOKEN: z.string().min(16, 'must be at least 16 characters'),
      MAX_SCALE: intVar(1, 100).default(10),
    });
    expect(problemsOf(() => loadConfig(schema, {}))).toEqual(['WEBHOOK_TOKEN is required (not set)']);
    expect(problemsOf(() => loadConfig(schema, { WEBHOOK_TOKEN: 'short' }))).toEqual(['WEBHOOK_TOKEN must be at least 16 characters']);
    expect(problemsOf(() => loadConfig(schema, { WEBHOOK_TOKEN: 'x'.repeat(16), MAX_SCALE: 'ten' }))).toEqual([
      'MAX_SCALE must be a number (got "ten")',
    ]);
    expect(loadConfig(schema, { WEBHOOK_TOKEN: 'x'.repeat(16) }).MAX_SCALE).toBe(10);
  });
});
