// The scale function: a firing alert -> a new masters/replicas count on the RedisCluster, written
// with optimistic concurrency (a 409 re-reads and decides again), recorded as an Event and in
// status.lastScaleTime. The cluster comes from the event's `cluster` (the alert's `redis_cluster`
// and `namespace` labels; the bridge drops alerts without a namespace, so none is guessed here).
import type { KubernetesObject } from '@kubernetes/client-node';
import { validateSpec, type RedisCluster } from '../../shared/api/index.js';
import { ALERT_FIRING } from '../../shared/events/catalog.js';
import type { TypedEvent } from '../../shared/events/codec.js';
import { createEventRecorder, errorMessage, isConflict, Kube, type EventRecorder } from '../../shared/kube/index.js';
import { ack, retry, type HandlerContext, type HandlerResult, type Handlers } from '../../shared/runtime/host.js';
import { alertKey, decideScale, type ScaleDecision } from './decide.js';

export interface ScaleOptions {
  kube?: Kube;
  recorder?: EventRecorder;
  now?: () => Date;
  /** Conditional writes tried before the delivery is handed back for a retry. */
  maxConflicts?: number;
}

const REASON: Record<string, string> = {
  Duplicate: 'AutoscaleDuplicate',
  AutoscalingDisabled: 'AutoscalingDisabled',
  NoAction: 'AutoscaleNoAction',
  InvalidScaleCount: 'AutoscaleInvalidAlert',
  Cooldown: 'AutoscaleCooldown',
  Busy: 'AutoscaleDeferred',
  AtBound: 'AutoscaleAtBound',
};

export function createScaleHandlers(opts: ScaleOptions = {}): Handlers {
  let kube = opts.kube;
  let recorder = opts.recorder;
  const now = opts.now ?? (() => new Date());
  const maxConflicts = opts.maxConflicts ?? 5;

  const onFiring = async (event: TypedEvent<typeof ALERT_FIRING>, ctx: HandlerContext): Promise<HandlerResult> => {
    kube ??= new Kube();
    recorder ??= createEventRecorder(kube, 'redis-operator-scale');
    const ref = event.data.cluster;
    const alertname = event.data.labels['alertname'] ?? '';
    const intent = {
      key: alertKey(event.source, event.id),
      alertname,
      ...(event.data.annotations['scale_count'] !== undefined ? { scaleCount: event.data.annotations['scale_count'] } : {}),
    };
    const log = ctx.log.child({ alertname, alertKey: intent.key });

    for (let attempt = 1; ; attempt++) {
      const cr = await kube.getCluster<RedisCluster>(ref);
      if (!cr) {
        log.warn(`RedisCluster ${ref.namespace}/${ref.name} not found: alert ignored`);
        return ack();
      }
      const validated = validateSpec(cr.spec);
      if (!validated.ok) {
        log.warn({ errors: validated.errors }, 'the cluster spec is invalid: alert ignored');
        return ack();
      }
      const decision: ScaleDecision = decideScale(
        {
          spec: validated.spec,
          ...(cr.status ? { status: cr.status } : {}),
          ...(cr.metadata.generation !== undefined ? { generation: cr.metadata.generation } : {}),
          ...(cr.metadata.annotations ? { annotations: cr.metadata.annotations } : {}),
        },
        intent,
        now(),
      );
      const record = (type: 'Normal' | 'Warning', reason: string, message: string) =>
        recorder!.record(cr as unknown as KubernetesObject, type, reason, message).catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'recording an Event failed'));

      if (decision.kind === 'ignore') {
        log.info({ reason: decision.reason }, decision.message);
        // A redelivery says nothing new to a person reading Events.
        if (decision.reason !== 'Duplicate') await record(decision.reason === 'InvalidScaleCount' ? 'Warning' : 'Normal', REASON[decision.reason]!, decision.message);
        return ack();
      }
      try {
        await kube.patchCluster(ref, decision.patch, cr.metadata.resourceVersion);
      } catch (err) {
        if (!isConflict(err)) throw err;
        if (attempt >= maxConflicts) return retry(`spec of ${ref.namespace}/${ref.name} changed under ${attempt} writes: ${errorMessage(err)}`, 409);
        log.info({ attempt }, 'the cluster changed meanwhile: re-reading');
        continue;
      }
      log.info({ target: decision.target, from: decision.from, to: decision.to }, decision.message);
      await record('Normal', 'Autoscaled', decision.message);
      // For `kubectl get`; the cooldown itself reads the annotation written with the spec.
      await kube
        .patchClusterStatus(ref, { lastScaleTime: decision.record.lastScaleTime })
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'writing status.lastScaleTime failed'));
      return ack();
    }
  };

  return {
    [ALERT_FIRING]: async (event, ctx) => {
      try {
        return await onFiring(event as TypedEvent<typeof ALERT_FIRING>, ctx);
      } catch (err) {
        ctx.log.error({ err: errorMessage(err) }, 'scaling failed');
        return retry(`scaling failed: ${errorMessage(err)}`, 500);
      }
    },
  } as Handlers;
}
