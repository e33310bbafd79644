// Unit-level checks of how serving reads a Knative Service: image -> function, durations,
// annotations, and the front door's routing.
import { describe, expect, it } from 'vitest';
import { functionNameFromImage, parseGoDuration, serviceSettings } from '../../local/serving/config.js';

describe('serving config', () => {
  it('maps an image to a function folder by its last path segment', () => {
    expect(functionNameFromImage('ghcr.io/redis-operator/reconcile:0.1.0')).toBe('reconcile');
    expect(functionNameFromImage('example.com/x/redis-operator-alert-bridge@sha256:abc')).toBe('alert-bridge');
    expect(functionNameFromImage('discovery')).toBe('discovery');
  });
  it('parses Go durations and refuses others naming the field', () => {
    expect(parseGoDuration('60s', 'w')).toBe(60_000);
    expect(parseGoDuration('1m30s', 'w')).toBe(90_000);
    expect(parseGoDuration('250ms', 'w')).toBe(250);
    expect(() => parseGoDuration('sixty', 'spec.window')).toThrow(/spec\.window/);
  });
  it('reads concurrency, timeout and scale from the Service', () => {
    const s = serviceSettings({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'discovery', namespace: 'ns', generation: 3 },
      spec: {
        template: {
          metadata: {
            annotations: {
              'autoscaling.knative.dev/min-scale': '1',
              'autoscaling.knative.dev/window': '6s',
            },
          },
          spec: { containerConcurrency: 2, timeoutSeconds: 30, containers: [{ image: 'x/discovery:1' }] },
        },
      },
    });
    expect(s).toMatchObject({
      functionName: 'discovery',
      containerConcurrency: 2,
      timeoutSeconds: 30,
      minScale: 1,
      windowMs: 6000,
      revision: 'discovery-00003',
    });
    expect(() => serviceSettings({ spec: { template: { spec: { containers: [{}] } } } })).toThrow(/containers\[0\]\.image/);
    expect(() => serviceSettings({ spec: { template: { spec: { containerConcurrency: -1, containers: [{ image: 'a' }] } } } })).toThrow(
      /containerConcurrency/,
    );
  });
});
