// The chart's values schema (the source of values.schema.json) against the chart's own defaults.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../local/platform.js';
import { chartValuesSchema } from '../../scripts/gen/chart-values.js';

const defaults = parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/values.yaml'), 'utf8'));

describe('chartValuesSchema', () => {
  it('accepts the default values', () => {
    expect(chartValuesSchema.safeParse(defaults).error).toBeUndefined();
  });

  it('keeps KEDA at three masters or more, per cluster too', () => {
    const perCluster = structuredClone(defaults);
    perCluster.keda.clusters[0].minMasters = 2;
    expect(chartValuesSchema.safeParse(perCluster).error?.issues[0]?.path).toEqual(['keda', 'clusters', 0, 'minMasters']);
  });

  it('passes settings under prometheus on to the stack, but refuses unknown keys elsewhere', () => {
    const stack = structuredClone(defaults);
    stack.prometheus.kubeStateMetrics = { enabled: false };
    expect(chartValuesSchema.safeParse(stack).success).toBe(true);
    const typo = structuredClone(defaults);
    typo.redisOperator.metrics.prometheusRule.rule = {};
    expect(chartValuesSchema.safeParse(typo).success).toBe(false);
  });
});
