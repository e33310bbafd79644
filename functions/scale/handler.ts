// The scale function: a firing alert -> a new masters/replicas count on the RedisCluster, written
// with optimistic concurrency (a 409 re-reads and decides again), recorded as an Event and in
// status.lastScaleTime. The cluster comes from the event's `cluster` (the alert's `redis_cluster`
// and `namespace` labels; the bridge drops alerts without a namespace, so none is guessed here).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventReason } from '../../shared/api/conditions.js';
import { validateSpec, type RedisCluster } from '../../shared/api/index.js';
import { ALERT_FIRING, ALERT_RESOLVED } from '../../shared/events/catalog.js';
import type { TypedEvent } from '../../shared/events/codec.js';
import { createEventRecorder, isConflict, Kube, recordEvent, type EventRecorder } from '../../shared/kube/index.js';
import { ack, retry, type HandlerContext, type HandlerResult, type Handlers } from '../../shared/runtime/host.js';
import { alertIntent, decideScale, type IgnoreReason, type ScaleDecision } from './decide.js';
import { errorMessage } from '../../shared/errors.js';

export interface ScaleOptions {
  kube?: Kube;
  recorder?: EventRecorder;
  now?: () => Date;
  /** Conditional writes tried before the delivery is handed back for a retry. */
  maxConflicts?: number;
}

/** The Event of an ignored alert; a redelivery or a resolution says nothing new to a person reading Events. */
const IGNORED_EVENT: Record<Exclude<IgnoreReason, 'Duplicate' | 'Resolved'>, EventReason> = {
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

  const onAlert = async (event: TypedEvent<typeof ALERT_FIRING | typeof ALERT_RESOLVED>, ctx: HandlerContext): Promise<HandlerResult> => {
    kube ??= new Kube();
    recorder ??= createEventRecorder(kube, 'redis-operator-scale');
    const ref = event.data.cluster;
    const intent = alertIntent(event);
    const log = ctx.log.child({ alertname: intent.alertname, alertKey: intent.key });

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
      const record = (reason: EventReason, message: string) =>
        recordEvent(recorder!, cr as unknown as KubernetesObject, reason, message, log);

      if (decision.kind === 'ignore') {
        log.info({ reason: decision.reason }, decision.message);
        if (decision.reason !== 'Duplicate' && decision.reason !== 'Resolved')
          await record(IGNORED_EVENT[decision.reason], decision.message);
        // A heal or a reshard ends in seconds: the Broker's retries bring the alert back then,
        // rather than Alertmanager's next re-send (repeatInterval, minutes away).
        return decision.reason === 'Busy' ? retry(`${decision.message}; deferred to a redelivery`, 503) : ack();
      }
      try {
        await kube.patchCluster(ref, decision.patch, cr.metadata.resourceVersion);
      } catch (err) {
        if (!isConflict(err)) throw err;
        if (attempt >= maxConflicts)
          return retry(`spec of ${ref.namespace}/${ref.name} changed under ${attempt} writes: ${errorMessage(err)}`, 409);
        log.info({ attempt }, 'the cluster changed meanwhile: re-reading');
        continue;
      }
      log.info({ target: decision.target, from: decision.from, to: decision.to }, decision.message);
      await record('Autoscaled', decision.message);
      // For `kubectl get`; the cooldown itself reads the annotation written with the spec.
      await kube
        .patchClusterStatus(ref, { lastScaleTime: decision.record.lastScaleTime })
        .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'writing status.lastScaleTime failed'));
      return ack();
    }
  };

  const handle = async (event: TypedEvent<typeof ALERT_FIRING | typeof ALERT_RESOLVED>, ctx: HandlerContext) => {
    try {
      return await onAlert(event, ctx);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'scaling failed');
      return retry(`scaling failed: ${errorMessage(err)}`, 500);
    }
  };
  // The chart's Trigger sends firing alerts only; a resolution routed here is acknowledged as such.
  return { [ALERT_FIRING]: handle, [ALERT_RESOLVED]: handle } as Handlers;
}
