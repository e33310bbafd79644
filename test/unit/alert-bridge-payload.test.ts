import { describe, expect, it } from 'vitest';
import { ALERT_FIRING, ALERT_RESOLVED } from '../../shared/events/catalog.js';
import { alertEvents, parseWebhook } from '../../functions/alert-bridge/bridge.js';

const SOURCE = '/redis-operator/alert-bridge';
const RECEIVED = new Date('2026-11-24T10:05:30.250Z');

function payload(alerts: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey: '{}:{alertname="HighMemoryUsage"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'redis-operator',
    groupLabels: { alertname: 'HighMemoryUsage' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    ...extra,
    alerts,
  };
}

function alert(over: Record<string, unknown> = {}) {
  return {
    status: 'firing',
    labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rediscluster1', namespace: 'cache', instance: '10.0.0.1:15000' },
    annotations: { scale_count: '2', summary: 'memory above 80%' },
    startsAt: '2026-11-24T10:00:00.000Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=x',
    fingerprint: 'a1b2c3d4e5f60718',
    ...over,
  };
}

describe('alert-bridge payload validation', () => {
  it('accepts the documented format, with fields newer Alertmanagers add', () => {
    const r = parseWebhook(payload([alert({ extraField: 1 })], { notification_reason: 'new', routeLabels: { team: 'x' } }));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.payload.alerts).toHaveLength(1);
      expect((r.payload as Record<string, unknown>)['routeLabels']).toEqual({ team: 'x' });
    }
  });

  it.each([
    [{ ...payload([alert()]), alerts: 'nope' }, 'alerts'],
    [payload([alert({ startsAt: 'yesterday' })]), 'alerts[0].startsAt'],
    [payload([alert({ status: 'pending' })]), 'alerts[0].status'],
    [payload([alert(), alert({ labels: { alertname: 3 } })]), 'alerts[1].labels.alertname'],
    [{ alerts: [] }, 'status'],
  ])('names the bad field (%#)', (body, field) => {
    const r = parseWebhook(body);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.field).toBe(field);
  });

  it('says a missing field is required', () => {
    const { status: _drop, ...noStatus } = alert();
    const r = parseWebhook(payload([noStatus]));
    expect(r).toMatchObject({ ok: false, field: 'alerts[0].status', message: 'is required' });
  });
});

describe('alert-bridge events', () => {
  it('makes one event per alert with the cluster from its labels and the webhook receiver', () => {
    const r = parseWebhook(payload([alert(), alert({ status: 'resolved', fingerprint: 'ffff', endsAt: '2026-11-24T10:05:00Z' })]));
    if (!r.ok) throw new Error(r.message);
    const { events, skipped } = alertEvents(r.payload, SOURCE, RECEIVED);
    expect(skipped).toEqual([]);
    expect(events.map((e) => e.type)).toEqual([ALERT_FIRING, ALERT_RESOLVED]);
    const data = events[0]!.data as Record<string, unknown>;
    expect(data['cluster']).toEqual({ namespace: 'cache', name: 'rediscluster1' });
    expect(data['receiver']).toBe('redis-operator');
    expect(data['annotations']).toEqual({ scale_count: '2', summary: 'memory above 80%' });
    expect(events[0]!['rcname']).toBe('rediscluster1');
    expect(events[0]!['rcnamespace']).toBe('cache');
    expect(events[0]!['alertname']).toBe('HighMemoryUsage');
    expect(events[0]!.source).toBe(SOURCE);
    // When the notification arrived: the events' time, and in their data.
    for (const e of events) {
      expect(e.time).toBe('2026-11-24T10:05:30.250Z');
      expect((e.data as Record<string, unknown>)['receivedAt']).toBe('2026-11-24T10:05:30.250Z');
    }
  });

  it('gives one notification one id, and the next notification of the same alert another', () => {
    const idOf = (a: Record<string, unknown>, extra: Record<string, unknown> = {}, at = RECEIVED) => {
      const r = parseWebhook(payload([a], extra));
      if (!r.ok) throw new Error(r.message);
      return alertEvents(r.payload, SOURCE, at).events[0]!.id;
    };
    const first = idOf(alert());
    // The same notification built again (the bridge's own retry to the Broker): the same id.
    expect(idOf(alert())).toBe(first);
    expect(idOf(alert(), { groupKey: 'other', truncatedAlerts: 0, receiver: 'r2' })).toBe(first);
    expect(idOf(alert({ annotations: { scale_count: '2', summary: 'changed text' } }))).toBe(first);
    // Alertmanager's re-send of the still-firing alert (repeat_interval): identical but for when it came.
    const repeat = idOf(alert(), {}, new Date(RECEIVED.getTime() + 600_000));
    expect(repeat).not.toBe(first);
    expect(idOf(alert({ startsAt: '2026-11-24T11:00:00.000Z' }))).not.toBe(first);
    expect(idOf(alert({ fingerprint: 'other' }))).not.toBe(first);
    expect(idOf(alert({ status: 'resolved', endsAt: '2026-11-24T10:05:00Z' }))).not.toBe(first);
    expect(first).toMatch(/^[0-9a-f]{32}$/);
  });

  it('skips an alert without namespace or redis_cluster label and says which', () => {
    const r = parseWebhook(
      payload([
        alert({ labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rc' } }),
        alert({ labels: { alertname: 'LowMemoryUsage', namespace: 'cache' } }),
        alert({ labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rc', namespace: 'Not_A_Name' } }),
        alert(),
      ]),
    );
    if (!r.ok) throw new Error(r.message);
    const { events, skipped } = alertEvents(r.payload, SOURCE, RECEIVED);
    expect(events).toHaveLength(1);
    expect(skipped.map((s) => s.index)).toEqual([0, 1, 2]);
    expect(skipped[0]!.reason).toContain('namespace');
    expect(skipped[1]!.reason).toContain('redis_cluster');
    expect(skipped[2]!.reason).toContain('cluster.namespace');
  });
});
