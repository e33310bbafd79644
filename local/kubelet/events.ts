// The Events the kubelet records on Pods. The same reason and message on the same Pod bump
// `count` instead of piling up, under the names the operator's own recorder gives them.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubernetesEventType } from '../../shared/api/conditions.js';
import { eventNameFor, newEvent } from '../../shared/kube/events.js';
import { KubeError, type KubeObject, type KubeRest } from '../apiserver/client.js';

export async function recordEvent(
  kube: KubeRest,
  component: string,
  obj: KubernetesObject,
  type: KubernetesEventType,
  reason: string,
  message: string,
): Promise<void> {
  const namespace = obj.metadata?.namespace ?? 'default';
  const name = eventNameFor(obj, reason, message);
  const stamp = new Date();
  const existing = await kube.get('v1', 'Event', name, namespace);
  if (existing) {
    await kube.replace({
      ...existing,
      apiVersion: 'v1',
      kind: 'Event',
      count: Number(existing.count ?? 1) + 1,
      lastTimestamp: stamp.toISOString(),
    });
    return;
  }
  const event = JSON.parse(JSON.stringify(newEvent(obj, type, reason, message, component, stamp))) as KubeObject;
  try {
    await kube.create(event);
  } catch (err) {
    // Two records of the same event at once: one create wins, which is enough.
    if (!(err instanceof KubeError && err.code === 409)) throw err;
  }
}
