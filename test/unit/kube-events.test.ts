import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { recordEvent, type EventRecorder } from '../../shared/kube/events.js';

const cluster: KubernetesObject = {
  apiVersion: 'redis.redis/v1beta1',
  kind: 'RedisCluster',
  metadata: { name: 'rc', namespace: 'cache', uid: 'u1' },
};

function recorder(fail = false) {
  const recorded: unknown[][] = [];
  const r: EventRecorder = {
    async record(...args) {
      if (fail) throw new Error('apiserver down');
      recorded.push(args);
    },
  };
  return { r, recorded };
}

describe('recordEvent', () => {
  it('records the reason with the Event type the catalog gives it', async () => {
    const { r, recorded } = recorder();
    const log = { warn: () => undefined };
    await recordEvent(r, cluster, 'ReshardStarted', 'moving', log);
    await recordEvent(r, cluster, 'ReshardStalled', 'stuck', log);
    await recordEvent(r, cluster, 'AutoscaleInvalidAlert', 'bad count', log);
    expect(recorded).toEqual([
      [cluster, 'Normal', 'ReshardStarted', 'moving'],
      [cluster, 'Warning', 'ReshardStalled', 'stuck'],
      [cluster, 'Warning', 'AutoscaleInvalidAlert', 'bad count'],
    ]);
  });

  it('logs a failed write instead of failing the work it reports', async () => {
    const { r } = recorder(true);
    const warnings: unknown[][] = [];
    await expect(
      recordEvent(r, cluster, 'Autoscaled', 'masters 3 -> 4', { warn: (...args: unknown[]) => void warnings.push(args) }),
    ).resolves.toBeUndefined();
    expect(warnings).toEqual([[{ err: 'apiserver down' }, 'recording an Event failed']]);
  });

  it('refuses, at compile time, a reason the catalog does not list', () => {
    const { r, recorded } = recorder();
    // @ts-expect-error: not an Event reason of the operator
    expect(() => recordEvent(r, cluster, 'ReshardStartd', 'moving', { warn: () => undefined })).toThrow();
    expect(recorded).toHaveLength(0);
  });
});
