// What KEDA decides around the HPA, and how it reads a ScaledObject, checked against KEDA's
// documentation ("Scaling Deployments": activation and scaling phases; the ScaledObject
// specification: defaults, cooldownPeriod; the prometheus scaler: threshold, ignoreNullValues).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../local/platform.js';
import { executorReplicas, hpaMinReplicas, parseScaledObject } from '../../local/keda/scaledobject.js';

const S = 1000;

describe('activation and scaling to zero', () => {
  const zeroMin = { minReplicaCount: 0, cooldownPeriod: 300, now: 1000 * S };

  it('below the activation threshold the target stays at zero; above it KEDA scales to one and the HPA takes over', () => {
    // KEDA docs, activation phase: "the operator decides whether the workload is scaled from or to
    // zero"; from zero KEDA sets at least one replica, then the HPA scales on the metric.
    expect(executorReplicas({ ...zeroMin, current: 0, active: false })).toBe(0);
    expect(executorReplicas({ ...zeroMin, current: 0, active: true })).toBe(1);
    expect(executorReplicas({ ...zeroMin, current: 4, active: true, lastActive: zeroMin.now })).toBeUndefined();
  });

  it('cooldownPeriod only delays scaling to zero after the last active trigger', () => {
    // KEDA docs: "cooldownPeriod ... The period to wait after the last trigger reported active
    // before scaling the resource back to 0"; it "only applies after a scale to zero" decision, the
    // HPA governs every other scale-down.
    const idle = { ...zeroMin, current: 3, active: false };
    expect(executorReplicas({ ...idle, lastActive: zeroMin.now - 299 * S })).toBeUndefined();
    expect(executorReplicas({ ...idle, lastActive: zeroMin.now - 300 * S })).toBe(0);
  });

  it('with minReplicaCount above zero KEDA never scales to zero: the HPA holds at least the minimum', () => {
    // KEDA docs: with minReplicaCount >= 1 the scaler is always active for the HPA, and the
    // activation value only decides the Active condition.
    const withMin = { minReplicaCount: 3, cooldownPeriod: 300, now: 1000 * S, active: false };
    expect(executorReplicas({ ...withMin, current: 4, lastActive: 0 })).toBeUndefined();
    expect(executorReplicas({ ...withMin, current: 0 })).toBe(3);
    expect(executorReplicas({ ...withMin, current: 2 })).toBe(3);
    expect(hpaMinReplicas(0)).toBe(1);
    expect(hpaMinReplicas(3)).toBe(3);
  });
});

describe('reading a ScaledObject', () => {
  it("reads the chart's ScaledObject with KEDA's names and defaults", () => {
    const so = parse(readFileSync(join(REPO_ROOT, 'keda/scaledobject.yaml'), 'utf8'));
    const spec = parseScaledObject(so);
    expect(spec.scaleTargetRef).toEqual({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', name: 'rediscluster1' });
    expect([spec.minReplicaCount, spec.maxReplicaCount, spec.pollingInterval, spec.cooldownPeriod]).toEqual([3, 10, 30, 300]);
    expect(spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBe(900);
    expect(spec.triggers[0]).toMatchObject({ metricName: 's0-prometheus', metricType: 'AverageValue', ignoreNullValues: true });
    expect(spec.triggers[0]!.threshold).toBe(Number(so.spec.triggers[0].metadata.threshold));
  });

  it("fills KEDA's defaults and refuses what KEDA refuses", () => {
    const trigger = { type: 'prometheus', metadata: { serverAddress: 'http://p:9090/', query: 'up', threshold: '5' } };
    const spec = parseScaledObject({ spec: { scaleTargetRef: { name: 'web' }, triggers: [trigger] } });
    expect(spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
    expect([spec.minReplicaCount, spec.maxReplicaCount, spec.pollingInterval, spec.cooldownPeriod]).toEqual([0, 100, 30, 300]);
    expect(spec.triggers[0]).toMatchObject({ serverAddress: 'http://p:9090', activationThreshold: 0 });
    const bad = (s: object) => () => parseScaledObject({ spec: { scaleTargetRef: { name: 'web' }, triggers: [trigger], ...s } });
    expect(bad({ minReplicaCount: 5, maxReplicaCount: 2 })).toThrow('MinReplicaCount=5 must be less than MaxReplicaCount=2');
    expect(bad({ triggers: [{ type: 'kafka', metadata: {} }] })).toThrow('only prometheus');
    expect(bad({ triggers: [{ type: 'prometheus', metadata: { serverAddress: 'x', query: 'up' } }] })).toThrow('"threshold"');
    const valueTrigger = { ...trigger, metricType: 'Value' };
    expect(bad({ triggers: [valueTrigger], fallback: { failureThreshold: 3, replicas: 6 } })).toThrow('only supported for AverageValue');
  });
});
