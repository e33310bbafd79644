import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import {
  alertmanagerWebhookSchema,
  buildEvent,
  catalog,
  clusterFromAlertLabels,
  clusterOf,
  EVENT_TYPES,
  EventDataError,
  parseEvent,
  UnknownEventTypeError,
  type EventDataInput,
  type EventType,
} from '../../shared/events/index.js';

const cluster = { namespace: 'cache', name: 'rediscluster1' };

function roundTrip(event: CloudEventV1<unknown>, mode: 'binary' | 'structured'): CloudEventV1<unknown> {
  const message = mode === 'binary' ? HTTP.binary(event) : HTTP.structured(event);
  const decoded = HTTP.toEvent(message);
  if (Array.isArray(decoded)) throw new Error('unexpected batch');
  (decoded as CloudEvent<unknown>).validate();
  return decoded as CloudEventV1<unknown>;
}

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof EventDataError) return err.field;
    throw err;
  }
  throw new Error('expected an EventDataError');
}

describe('the catalog', () => {
  it("types: ours carry the CRD group prefix and a version suffix, Knative's are its own", () => {
    for (const type of EVENT_TYPES) {
      if (catalog[type].direction === 'emitted') expect(type).toMatch(/^redis\.redis\.[a-z]+\.[a-z]+\.v\d+$/);
      else expect(type).toMatch(/^dev\.knative\./);
    }
    expect(EVENT_TYPES.filter((t) => catalog[t].direction === 'emitted').sort()).toEqual([
      'redis.redis.alert.firing.v1',
      'redis.redis.alert.resolved.v1',
      'redis.redis.reshard.completed.v1',
      'redis.redis.reshard.progressed.v1',
      'redis.redis.reshard.requested.v1',
    ]);
  });

  it('our extensions have legal names that do not clash with ApiServerSource or Knative', () => {
    for (const type of EVENT_TYPES) {
      if (catalog[type].direction !== 'emitted') continue;
      const names = Object.keys(catalog[type].extensions.shape);
      expect(names).toContain('rcnamespace');
      expect(names).toContain('rcname');
      for (const name of names) {
        expect(name).toMatch(/^[a-z0-9]{1,20}$/);
        expect(['kind', 'apiversion', 'name', 'namespace']).not.toContain(name);
        expect(name.startsWith('knative')).toBe(false);
      }
    }
  });

  it.each(EVENT_TYPES)('%s: the documented example builds, and parses back in binary and structured mode', (type) => {
    const example = catalog[type].example as EventDataInput<EventType>;
    const built = buildEvent(type, example, { source: '/test', cause: { id: 'c1', source: '/s' } });
    expect(built.type).toBe(type);
    expect(built.datacontenttype).toBe('application/json');
    for (const mode of ['binary', 'structured'] as const) {
      const parsed = parseEvent(roundTrip(built, mode));
      expect(parsed.type).toBe(type);
      expect(parsed.id).toBe(built.id);
      expect(parsed.source).toBe('/test');
      expect(parsed.data).toEqual(built.data);
    }
  });
});

describe("consumed events in Knative's formats", () => {
  it('an ApiServerSource Reference-mode event for a RedisCluster names its cluster', () => {
    // What ApiServerSource puts on the wire, header by header.
    const decoded = HTTP.toEvent({
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'f9b2a0d4-3c1e-4f0e-9a43-3a7c2a1f0b11',
        'ce-source': 'https://10.96.0.1:443',
        'ce-type': 'dev.knative.apiserver.ref.update',
        'ce-subject': '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/rediscluster1',
        'ce-kind': 'RedisCluster',
        'ce-apiversion': 'redis.redis/v1beta1',
        'ce-name': 'rediscluster1',
        'ce-namespace': 'cache',
      },
      body: '{"kind":"RedisCluster","namespace":"cache","name":"rediscluster1","apiVersion":"redis.redis/v1beta1"}',
    }) as CloudEventV1<unknown>;
    const event = parseEvent(decoded);
    expect(event.type).toBe('dev.knative.apiserver.ref.update');
    expect(event.extensions).toEqual({
      kind: 'RedisCluster',
      apiversion: 'redis.redis/v1beta1',
      name: 'rediscluster1',
      namespace: 'cache',
    });
    expect(clusterOf(event)).toEqual(cluster);
  });

  it('a Pod reference does not name a cluster; a Pod in Resource mode does, through its owner', () => {
    const ref = buildEvent(
      'dev.knative.apiserver.ref.add',
      { apiVersion: 'v1', kind: 'Pod', name: 'rediscluster1-0', namespace: 'cache' },
      { source: 'https://api' },
    );
    expect(ref.kind).toBe('Pod');
    expect(clusterOf(parseEvent(ref))).toBeUndefined();
    const resource = buildEvent('dev.knative.apiserver.resource.update', catalog['dev.knative.apiserver.resource.update'].example, {
      source: 'https://api',
    });
    expect(clusterOf(parseEvent(resource))).toEqual(cluster);
    const orphan = buildEvent(
      'dev.knative.apiserver.resource.delete',
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'cache' } },
      { source: 'https://api' },
    );
    expect(clusterOf(parseEvent(orphan))).toBeUndefined();
  });

  it('a PingSource event with an empty body parses, and names no cluster', () => {
    const decoded = HTTP.toEvent({
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'p1',
        'ce-source': '/apis/v1/namespaces/redis-operator/pingsources/resync',
        'ce-type': 'dev.knative.sources.ping',
      },
      body: undefined,
    }) as CloudEventV1<unknown>;
    const event = parseEvent(decoded);
    expect(event.type).toBe('dev.knative.sources.ping');
    expect(event.data).toBeUndefined();
    expect(clusterOf(event)).toBeUndefined();
  });

  it('a ref event without its extensions is refused, naming the extension', () => {
    const bare = new CloudEvent({
      type: 'dev.knative.apiserver.ref.add',
      source: 'https://api',
      id: '1',
      data: { apiVersion: 'v1', kind: 'Pod', name: 'p' },
    });
    expect(fieldOf(() => parseEvent(bare))).toBe('extension.kind');
  });
});

describe('bad data is refused, naming the field', () => {
  const requested = { cluster, generation: 3 };

  it('on build', () => {
    expect(
      fieldOf(() =>
        buildEvent('redis.redis.reshard.requested.v1', { ...requested, cluster: { namespace: 'cache' } } as never, { source: '/t' }),
      ),
    ).toBe('data.cluster.name');
    expect(fieldOf(() => buildEvent('redis.redis.reshard.requested.v1', { ...requested, generation: -1 }, { source: '/t' }))).toBe(
      'data.generation',
    );
    expect(
      fieldOf(() =>
        buildEvent('redis.redis.reshard.requested.v1', { ...requested, cluster: { namespace: 'Cache!', name: 'x' } }, { source: '/t' }),
      ),
    ).toBe('data.cluster.namespace');
    expect(
      fieldOf(() =>
        buildEvent('redis.redis.reshard.progressed.v1', { ...requested, slotsMoved: 1, slotsTotal: 2 } as never, { source: '/t' }),
      ),
    ).toBe('data.step');
    expect(
      fieldOf(() => buildEvent('redis.redis.reshard.completed.v1', { ...requested, outcome: 'maybe' } as never, { source: '/t' })),
    ).toBe('data.outcome');
    expect(fieldOf(() => buildEvent('redis.redis.reshard.requested.v1', requested, { source: '' }))).toBe('source');
    const alert = catalog['redis.redis.alert.firing.v1'].example;
    expect(fieldOf(() => buildEvent('redis.redis.alert.firing.v1', { ...alert, status: 'resolved' } as never, { source: '/t' }))).toBe(
      'data.status',
    );
    expect(fieldOf(() => buildEvent('redis.redis.alert.firing.v1', { ...alert, startsAt: 'yesterday' }, { source: '/t' }))).toBe(
      'data.startsAt',
    );
    expect(
      fieldOf(() => buildEvent('redis.redis.alert.firing.v1', { ...alert, labels: { alertname: 5 } } as never, { source: '/t' })),
    ).toBe('data.labels.alertname');
  });

  it('the error message names the type and the field', () => {
    expect(() => buildEvent('redis.redis.reshard.requested.v1', { cluster } as never, { source: '/t' })).toThrow(
      'redis.redis.reshard.requested.v1: data.generation is required',
    );
  });

  it('on parse: bad data, extensions that disagree with the data, unknown types', () => {
    const good = buildEvent('redis.redis.reshard.requested.v1', requested, { source: '/t' });
    const tampered = good.cloneWith({ data: { cluster, generation: 'three' } } as never);
    expect(fieldOf(() => parseEvent(tampered))).toBe('data.generation');
    const moved = good.cloneWith({ rcname: 'other' } as never);
    expect(fieldOf(() => parseEvent(moved))).toBe('extension.rcnamespace/rcname');
    const noExt = new CloudEvent({ type: good.type, source: '/t', id: 'x', data: requested });
    expect(fieldOf(() => parseEvent(noExt))).toBe('extension.rcnamespace');
    const unknown = new CloudEvent({ type: 'com.example.nothing', source: '/t', id: 'x' });
    expect(() => parseEvent(unknown)).toThrow(UnknownEventTypeError);
    expect(() => buildEvent('com.example.nothing' as EventType, {} as never, { source: '/t' })).toThrow(UnknownEventTypeError);
  });

  it('data that arrives as JSON text is parsed; text that is not JSON is refused', () => {
    const asText = new CloudEvent({
      type: 'redis.redis.reshard.requested.v1',
      source: '/t',
      id: 'x',
      datacontenttype: 'application/json',
      rcnamespace: 'cache',
      rcname: 'rediscluster1',
      data: JSON.stringify(requested),
    });
    expect(parseEvent(asText).data).toEqual(requested);
    const garbage = asText.cloneWith({ data: '{nope' } as never);
    expect(fieldOf(() => parseEvent(garbage))).toBe('data');
  });
});

describe('our events', () => {
  it('carry the cluster as extensions for Trigger filters, and alerts their alertname', () => {
    const ev = buildEvent(
      'redis.redis.reshard.completed.v1',
      { cluster, generation: 2, outcome: 'succeeded' },
      { source: '/redis-operator/reshard' },
    );
    expect(ev.rcnamespace).toBe('cache');
    expect(ev.rcname).toBe('rediscluster1');
    const alert = buildEvent('redis.redis.alert.firing.v1', catalog['redis.redis.alert.firing.v1'].example, {
      source: '/redis-operator/alert-bridge',
    });
    expect(alert.alertname).toBe('HighMemoryUsage');
    expect(alert.rcname).toBe('rediscluster1');
  });

  it('keep fields beyond the documented ones (a producer may carry more)', () => {
    const ev = buildEvent(
      'redis.redis.reshard.progressed.v1',
      { cluster, generation: 2, step: 1, slotsMoved: 10, slotsTotal: 20, pairs: [{ from: 'a', to: 'b' }] },
      { source: '/t' },
    );
    const parsed = parseEvent(roundTrip(ev, 'binary'));
    expect(parsed.type === 'redis.redis.reshard.progressed.v1' && parsed.data['pairs']).toEqual([{ from: 'a', to: 'b' }]);
  });

  it('clusterOf names the cluster of our events', () => {
    const ev = parseEvent(buildEvent('redis.redis.reshard.requested.v1', { cluster, generation: 1 }, { source: '/t' }));
    expect(clusterOf(ev)).toEqual(cluster);
  });

  it("an alert's cluster comes from its redis_cluster and namespace labels", () => {
    expect(clusterFromAlertLabels({ redis_cluster: 'rc', namespace: 'ns' })).toEqual({ namespace: 'ns', name: 'rc' });
    expect(clusterFromAlertLabels({ redis_cluster: 'rc' })).toBeUndefined();
    expect(clusterFromAlertLabels({ redis_cluster: 'rc' }, 'default')).toEqual({ namespace: 'default', name: 'rc' });
    expect(clusterFromAlertLabels({ namespace: 'ns' })).toBeUndefined();
  });
});

describe('the Alertmanager webhook body', () => {
  const body = {
    version: '4',
    groupKey: '{}:{alertname="HighMemoryUsage"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'redis-operator',
    groupLabels: { alertname: 'HighMemoryUsage' },
    commonLabels: { alertname: 'HighMemoryUsage' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    notification_reason: 'new',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rc1', namespace: 'cache' },
        annotations: {},
        startsAt: '2026-01-01T00:00:00.123456789Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint: 'f1',
      },
      {
        status: 'resolved',
        labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rc2', namespace: 'cache' },
        annotations: {},
        startsAt: '2026-01-01T00:00:00Z',
        endsAt: '2026-01-01T00:05:00Z',
        fingerprint: 'f2',
      },
    ],
  };

  it("parses Alertmanager's body, keeping fields newer versions add", () => {
    const parsed = alertmanagerWebhookSchema.parse(body);
    expect(parsed.alerts.map((a) => a.status)).toEqual(['firing', 'resolved']);
    expect(parsed['notification_reason']).toBe('new');
  });

  it('refuses an alert without startsAt, naming the path', () => {
    const { startsAt: _drop, ...broken } = body.alerts[0]!;
    const result = alertmanagerWebhookSchema.safeParse({ ...body, alerts: [broken] });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual(['alerts', 0, 'startsAt']);
  });
});
