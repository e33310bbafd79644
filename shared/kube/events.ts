// Kubernetes Events on a RedisCluster: what a person reads in `kubectl describe` / `get events`.
// The same reason and message on the same object bump `count` instead of piling up, as
// client-go's event recorder does.
import { createHash } from 'node:crypto';
import type { CoreV1Event, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { EVENT_REASONS, type EventReason, type KubernetesEventType } from '../api/conditions.js';
import { isAlreadyExists, isNotFound, type Kube } from './client.js';
import { errorMessage } from '../errors.js';

/** Records any object's Events (the embedded kubelet's on Pods too), whatever their reason. */
export interface EventRecorder {
  record(obj: KubernetesObject, type: KubernetesEventType, reason: string, message: string): Promise<void>;
}

/**
 * Records one of the operator's Events, its type as the catalog gives it. A failed write is only
 * logged: the Event tells a person about work that is done either way.
 */
export function recordEvent(
  recorder: EventRecorder,
  obj: KubernetesObject,
  reason: EventReason,
  message: string,
  log: Pick<Logger, 'warn'>,
): Promise<void> {
  return recorder
    .record(obj, EVENT_REASONS[reason].type, reason, message)
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'recording an Event failed'));
}

export function eventNameFor(obj: KubernetesObject, reason: string, message: string): string {
  const digest = createHash('sha256')
    .update(`${obj.metadata?.uid ?? ''}/${reason}/${message}`)
    .digest('hex')
    .slice(0, 16);
  return `${obj.metadata?.name ?? 'unknown'}.${digest}`;
}

/** A first Event of `reason` on `obj`, named so that a repeat finds it (see eventNameFor). */
export function newEvent(
  obj: KubernetesObject,
  type: KubernetesEventType,
  reason: string,
  message: string,
  component: string,
  stamp: Date,
): CoreV1Event {
  const namespace = obj.metadata?.namespace ?? 'default';
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventNameFor(obj, reason, message), namespace },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata?.name,
      namespace,
      uid: obj.metadata?.uid,
      resourceVersion: obj.metadata?.resourceVersion,
    },
    type,
    reason,
    message,
    count: 1,
    firstTimestamp: stamp,
    lastTimestamp: stamp,
    source: { component },
    reportingComponent: component,
  };
}

export function createEventRecorder(kube: Kube, component: string, now: () => Date = () => new Date()): EventRecorder {
  return {
    async record(obj, type, reason, message) {
      const namespace = obj.metadata?.namespace ?? 'default';
      const name = eventNameFor(obj, reason, message);
      const stamp = now();
      try {
        const existing = await kube.core.readNamespacedEvent({ name, namespace });
        await kube.core.replaceNamespacedEvent({
          name,
          namespace,
          body: { ...existing, count: (existing.count ?? 1) + 1, lastTimestamp: stamp },
        });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const body = newEvent(obj, type, reason, message, component, stamp);
      try {
        await kube.core.createNamespacedEvent({ namespace, body });
      } catch (err) {
        // Two instances recording the same event at once: one create wins, which is enough.
        if (!isAlreadyExists(err)) throw err;
      }
    },
  };
}
