// The KEDA ScaledObject targets what the CRD really offers: the /scale subresource of the
// RedisCluster, with bounds the schema accepts and explicit stabilization windows.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../local/platform.js';

const scaledObject = parse(readFileSync(join(REPO_ROOT, 'keda/scaledobject.yaml'), 'utf8'));
const crd = parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8'));

describe('keda/scaledobject.yaml', () => {
  it('scales the RedisCluster through a /scale subresource the CRD declares on spec.masters', () => {
    expect(scaledObject.apiVersion).toBe('keda.sh/v1alpha1');
    expect(scaledObject.kind).toBe('ScaledObject');
    const ref = scaledObject.spec.scaleTargetRef;
    expect(ref.apiVersion).toBe(`${crd.spec.group}/v1beta1`);
    expect(ref.kind).toBe(crd.spec.names.kind);
    const version = crd.spec.versions.find((v: { name: string }) => v.name === 'v1beta1');
    expect(version.subresources.scale).toMatchObject({ specReplicasPath: '.spec.masters', labelSelectorPath: '.status.selector' });
  });

  it('keeps the masters within what the schema allows, and sets both stabilization windows', () => {
    const masters = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.masters;
    expect(scaledObject.spec.minReplicaCount).toBeGreaterThanOrEqual(masters.minimum);
    expect(scaledObject.spec.maxReplicaCount).toBeGreaterThan(scaledObject.spec.minReplicaCount);
    if (masters.maximum !== undefined) expect(scaledObject.spec.maxReplicaCount).toBeLessThanOrEqual(masters.maximum);
    const behavior = scaledObject.spec.advanced.horizontalPodAutoscalerConfig.behavior;
    expect(behavior.scaleUp.stabilizationWindowSeconds).toBeGreaterThan(0);
    expect(behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThan(behavior.scaleUp.stabilizationWindowSeconds);
  });

  it('has one Prometheus trigger on memory with a numeric threshold', () => {
    expect(scaledObject.spec.triggers).toHaveLength(1);
    const [trigger] = scaledObject.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toMatch(/redis_memory_used_bytes/);
    expect(trigger.metadata.serverAddress).toMatch(/^https?:\/\//);
    expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
  });

  it('says that it and the Alertmanager path are alternatives', () => {
    expect(readFileSync(join(REPO_ROOT, 'keda/scaledobject.yaml'), 'utf8')).toMatch(/ALTERNATIVES/);
  });
});
