import { describe, expect, it } from 'vitest';
import { buildEvent, catalog, deriveEventId } from '../../shared/events/index.js';

const cluster = { namespace: 'cache', name: 'rediscluster1' };
const cause = { id: 'a1b2', source: 'https://10.96.0.1:443' };
const alert = catalog['redis.redis.alert.firing.v1'].example;
const resolved = catalog['redis.redis.alert.resolved.v1'].example;

describe('deterministic ids', () => {
  it('reshard events: the same cause gives the same id, whatever the time or the extra fields', () => {
    const a = buildEvent(
      'redis.redis.reshard.requested.v1',
      { cluster, generation: 4 },
      { source: '/redis-operator/reconcile', cause, time: '2026-01-01T00:00:00Z' },
    );
    const b = buildEvent(
      'redis.redis.reshard.requested.v1',
      { cluster, generation: 4, reason: 'again' },
      { source: '/redis-operator/reconcile', cause, time: '2026-01-02T00:00:00Z' },
    );
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reshard events: another cause, generation, cluster or type gives another id', () => {
    const base = deriveEventId('redis.redis.reshard.requested.v1', { cluster, generation: 4 }, cause);
    const others = [
      deriveEventId('redis.redis.reshard.requested.v1', { cluster, generation: 4 }, { ...cause, id: 'other' }),
      deriveEventId('redis.redis.reshard.requested.v1', { cluster, generation: 4 }, { ...cause, source: '/elsewhere' }),
      deriveEventId('redis.redis.reshard.requested.v1', { cluster, generation: 5 }, cause),
      deriveEventId('redis.redis.reshard.requested.v1', { cluster: { ...cluster, namespace: 'other' }, generation: 4 }, cause),
      deriveEventId('redis.redis.reshard.completed.v1', { cluster, generation: 4, outcome: 'succeeded' }, cause),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('reshard events without a cause: equal data (in any key order) gives an equal id, other data another', () => {
    const a = deriveEventId('redis.redis.reshard.progressed.v1', { cluster, generation: 1, step: 2, slotsMoved: 5, slotsTotal: 9 });
    const b = deriveEventId('redis.redis.reshard.progressed.v1', {
      slotsTotal: 9,
      slotsMoved: 5,
      step: 2,
      generation: 1,
      cluster: { name: cluster.name, namespace: cluster.namespace },
    });
    const c = deriveEventId('redis.redis.reshard.progressed.v1', { cluster, generation: 1, step: 3, slotsMoved: 5, slotsTotal: 9 });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('alert events: a notification rebuilt keeps its id; the next notification and a new firing get new ones', () => {
    const first = buildEvent('redis.redis.alert.firing.v1', alert, { source: '/redis-operator/alert-bridge' });
    const rebuilt = buildEvent(
      'redis.redis.alert.firing.v1',
      { ...alert, annotations: { scale_count: '2' }, receiver: 'other' },
      { source: '/redis-operator/alert-bridge', cause: { id: 'unrelated', source: '/x' } },
    );
    const next = buildEvent(
      'redis.redis.alert.firing.v1',
      { ...alert, receivedAt: '2026-01-01T00:15:30.250Z' },
      { source: '/redis-operator/alert-bridge' },
    );
    const again = buildEvent(
      'redis.redis.alert.firing.v1',
      { ...alert, startsAt: '2026-01-01T05:00:00Z' },
      { source: '/redis-operator/alert-bridge' },
    );
    expect(rebuilt.id).toBe(first.id);
    expect(next.id).not.toBe(first.id);
    expect(again.id).not.toBe(first.id);
    expect(again.id).not.toBe(next.id);
  });

  it('alert events: the resolution differs from the firing, and its endsAt counts', () => {
    const firing = deriveEventId('redis.redis.alert.firing.v1', alert);
    const done = deriveEventId('redis.redis.alert.resolved.v1', resolved);
    const doneLater = deriveEventId('redis.redis.alert.resolved.v1', { ...resolved, endsAt: '2026-01-01T00:20:00Z' });
    expect(new Set([firing, done, doneLater]).size).toBe(3);
  });

  it('alert events without a fingerprint fall back on the labels, in any order', () => {
    const { fingerprint: _drop, ...bare } = alert;
    const a = deriveEventId('redis.redis.alert.firing.v1', bare);
    const b = deriveEventId('redis.redis.alert.firing.v1', {
      ...bare,
      labels: { namespace: 'cache', redis_cluster: 'rediscluster1', alertname: 'HighMemoryUsage' },
    });
    const c = deriveEventId('redis.redis.alert.firing.v1', { ...bare, labels: { ...bare.labels, alertname: 'LowMemoryUsage' } });
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('an explicit id wins; consumed types get a fresh UUID each time, as Knative sends them', () => {
    expect(buildEvent('redis.redis.reshard.requested.v1', { cluster, generation: 1 }, { source: '/t', id: 'mine' }).id).toBe('mine');
    const ping = () =>
      buildEvent('dev.knative.sources.ping', { reason: 'resync' }, { source: '/apis/v1/namespaces/redis-operator/pingsources/resync' }).id;
    const [x, y] = [ping(), ping()];
    expect(x).toMatch(/^[0-9a-f-]{36}$/);
    expect(x).not.toBe(y);
  });
});
