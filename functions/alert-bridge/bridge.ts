// Alertmanager's webhook payload -> one CloudEvent per alert. Pure: validation, the cluster an
// alert names, the events and their deterministic ids; the HTTP side lives in handler.ts.
import type { CloudEventV1 } from 'cloudevents';
import {
  ALERT_FIRING,
  ALERT_RESOLVED,
  alertmanagerWebhookSchema,
  type AlertmanagerAlert,
  type AlertmanagerWebhook,
} from '../../shared/events/catalog.js';
import { buildEvent, clusterFromAlertLabels, EventDataError } from '../../shared/events/codec.js';

export type WebhookParse = { ok: true; payload: AlertmanagerWebhook } | { ok: false; field: string; message: string };

/** Validates a webhook body (already JSON-decoded); on failure names the first bad field, e.g. `alerts[0].startsAt`. */
export function parseWebhook(body: unknown): WebhookParse {
  const result = alertmanagerWebhookSchema.safeParse(body);
  if (result.success) return { ok: true, payload: result.data };
  const issue = result.error.issues[0]!;
  let field = '';
  for (const key of issue.path) field += typeof key === 'number' ? `[${key}]` : `${field ? '.' : ''}${String(key)}`;
  let at: unknown = body;
  for (const key of issue.path) at = at && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined;
  const missing = at === undefined && issue.code !== 'unrecognized_keys';
  return { ok: false, field: field || '(body)', message: missing ? 'is required' : issue.message };
}

export interface SkippedAlert {
  index: number;
  alertname?: string;
  reason: string;
}

export interface AlertEvents {
  events: CloudEventV1<unknown>[];
  /** Alerts that name no cluster: nothing can act on them, so retrying would not help either. */
  skipped: SkippedAlert[];
}

/**
 * One event per alert that names its cluster with both labels `redis_cluster` and `namespace`.
 * There is no default namespace: an alert without one is skipped (and reported), because guessing
 * would scale a same-named cluster in another namespace.
 *
 * `receivedAt` (the notification's arrival) is the events' `time` and part of their ids:
 * Alertmanager's re-send of a still-firing alert is otherwise identical to the last one, and each
 * re-send is a new request to scale, while a redelivery of one event keeps its id.
 */
export function alertEvents(payload: AlertmanagerWebhook, source: string, receivedAt: Date): AlertEvents {
  const events: CloudEventV1<unknown>[] = [];
  const skipped: SkippedAlert[] = [];
  payload.alerts.forEach((alert: AlertmanagerAlert, index) => {
    const alertname = alert.labels['alertname'];
    const cluster = clusterFromAlertLabels(alert.labels);
    if (!cluster) {
      const missing = ['redis_cluster', 'namespace'].filter((l) => !alert.labels[l]).join(' and ');
      skipped.push({ index, ...(alertname ? { alertname } : {}), reason: `alerts[${index}].labels has no ${missing} label` });
      return;
    }
    const type = alert.status === 'firing' ? ALERT_FIRING : ALERT_RESOLVED;
    const data = {
      ...alert,
      cluster,
      ...(payload.receiver !== undefined ? { receiver: payload.receiver } : {}),
      ...(payload.externalURL !== undefined ? { externalURL: payload.externalURL } : {}),
      receivedAt: receivedAt.toISOString(),
    };
    try {
      events.push(buildEvent(type, data as never, { source, time: receivedAt }) as CloudEventV1<unknown>);
    } catch (err) {
      // A label that is no Kubernetes name (e.g. `namespace: "Cache"`) cannot name a cluster.
      if (!(err instanceof EventDataError)) throw err;
      skipped.push({
        index,
        ...(alertname ? { alertname } : {}),
        reason: `alerts[${index}]: ${err.field.replace(/^data\./, '')} ${err.problem}`,
      });
    }
  });
  return { events, skipped };
}
