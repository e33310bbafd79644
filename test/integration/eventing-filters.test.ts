// Unit-level checks of the pure parts of eventing: Trigger filters, delivery policy and back-off,
// and the exact shapes of ApiServerSource and PingSource events.
import { HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { deliveryPolicy, effectiveDelivery, isRetryable, parseIsoDuration, retryDelayMs } from '../../local/eventing/delivery.js';
import { triggerMatches, validateTriggerFilters } from '../../local/eventing/filters.js';
import { labelSelectorString, matchesLabelSelector } from '../../local/apiserver/selectors.js';
import { guessPlural } from '../../local/apiserver/client.js';
import { joinUri } from '../../local/eventing/resolve.js';
import { apiServerSourceEvent, apiServerSubject, nextPing, pingEvent, validatePingSchedule } from '../../local/eventing/sources.js';

const ev = {
  type: 'dev.knative.apiserver.ref.add',
  source: 'http://api',
  kind: 'RedisCluster',
  apiversion: 'redis.redis/v1beta1',
  id: '1',
  specversion: '1.0',
};

describe('filter.attributes', () => {
  it('matches exactly and case-sensitively', () => {
    expect(triggerMatches({ filter: { attributes: { kind: 'RedisCluster' } } }, ev)).toBe(true);
    expect(triggerMatches({ filter: { attributes: { kind: 'rediscluster' } } }, ev)).toBe(false);
    expect(triggerMatches({ filter: { attributes: { kind: 'RedisCluster', type: 'dev.knative.apiserver.ref.update' } } }, ev)).toBe(false);
  });
  it('"" means any value, but the attribute must be present', () => {
    expect(triggerMatches({ filter: { attributes: { kind: '' } } }, ev)).toBe(true);
    expect(triggerMatches({ filter: { attributes: { rcname: '' } } }, ev)).toBe(false);
  });
  it('no filter passes everything', () => {
    expect(triggerMatches({}, ev)).toBe(true);
    expect(triggerMatches({ filter: {} }, ev)).toBe(true);
  });
});

describe('filters[] dialects', () => {
  it('exact, prefix, suffix', () => {
    expect(triggerMatches({ filters: [{ exact: { kind: 'RedisCluster' } }] }, ev)).toBe(true);
    expect(triggerMatches({ filters: [{ prefix: { type: 'dev.knative.apiserver.ref.' } }] }, ev)).toBe(true);
    expect(triggerMatches({ filters: [{ prefix: { type: 'dev.knative.apiserver.resource.' } }] }, ev)).toBe(false);
    expect(triggerMatches({ filters: [{ suffix: { type: '.add' } }] }, ev)).toBe(true);
    expect(triggerMatches({ filters: [{ suffix: { type: '.delete' } }] }, ev)).toBe(false);
    expect(triggerMatches({ filters: [{ exact: { missing: 'x' } }] }, ev)).toBe(false);
  });
  it('all, any, not, and the list as a conjunction', () => {
    const kindPod = { exact: { kind: 'Pod' } };
    const kindRc = { exact: { kind: 'RedisCluster' } };
    expect(triggerMatches({ filters: [{ any: [kindPod, kindRc] }] }, ev)).toBe(true);
    expect(triggerMatches({ filters: [{ all: [kindPod, kindRc] }] }, ev)).toBe(false);
    expect(triggerMatches({ filters: [{ not: kindPod }] }, ev)).toBe(true);
    expect(triggerMatches({ filters: [{ not: kindRc }] }, ev)).toBe(false);
    expect(triggerMatches({ filters: [kindRc, { suffix: { type: '.update' } }] }, ev)).toBe(false);
  });
  it('filters wins over filter.attributes when both are set', () => {
    expect(triggerMatches({ filter: { attributes: { kind: 'Pod' } }, filters: [{ exact: { kind: 'RedisCluster' } }] }, ev)).toBe(true);
    expect(triggerMatches({ filter: { attributes: { kind: 'RedisCluster' } }, filters: [{ exact: { kind: 'Pod' } }] }, ev)).toBe(false);
  });
  it('invalid filters are refused with the field named; cesql is unsupported', () => {
    expect(() => validateTriggerFilters({ filters: [{ cesql: "type = 'x'" }] })).toThrow(/spec\.filters\[0\]\.cesql/);
    expect(() => validateTriggerFilters({ filters: [{ exact: { a: 'x', b: 'y' } }] })).toThrow(
      /spec\.filters\[0\]\.exact: must name exactly one attribute/,
    );
    expect(() => validateTriggerFilters({ filters: [{ all: [{ exact: { a: '' } }] }] })).toThrow(/spec\.filters\[0\]\.all\[0\]\.exact\.a/);
    expect(() => validateTriggerFilters({ filters: [{ exact: { a: 'x' }, prefix: { b: 'y' } }] })).toThrow(/exactly one of/);
    expect(() => validateTriggerFilters({ filters: [{ exact: { kind: 'Pod' } }, { not: { prefix: { type: 'x' } } }] })).not.toThrow();
  });
});

describe('delivery', () => {
  it('parses ISO-8601 durations', () => {
    expect(parseIsoDuration('PT0.2S')).toBe(200);
    expect(parseIsoDuration('PT1M30S')).toBe(90_000);
    expect(parseIsoDuration('P1DT1H')).toBe(90_000_000);
    expect(() => parseIsoDuration('0.2s', 'spec.delivery.backoffDelay')).toThrow(/spec\.delivery\.backoffDelay/);
    expect(() => parseIsoDuration('PT')).toThrow();
  });
  it('backs off linearly or exponentially, as Knative computes it', () => {
    const lin = { backoffPolicy: 'linear' as const, backoffDelayMs: 100 };
    const exp = { backoffPolicy: 'exponential' as const, backoffDelayMs: 100 };
    expect([1, 2, 3].map((n) => retryDelayMs(lin, n))).toEqual([100, 200, 300]);
    expect([1, 2, 3].map((n) => retryDelayMs(exp, n))).toEqual([200, 400, 800]);
  });
  it('retries transport errors, 5xx, 404, 408, 409, 429 only', () => {
    for (const s of [undefined, 500, 502, 503, 404, 408, 409, 429]) expect(isRetryable(s)).toBe(true);
    for (const s of [400, 401, 403, 413, 415, 422]) expect(isRetryable(s)).toBe(false);
  });
  it('defaults to no retry; the Trigger overrides the Broker field by field', () => {
    expect(deliveryPolicy(undefined).retry).toBe(0);
    const merged = effectiveDelivery({ retry: 1 }, { retry: 5, backoffDelay: 'PT2S', deadLetterSink: { uri: 'http://dls' } });
    expect(merged).toEqual({ retry: 1, backoffDelay: 'PT2S', deadLetterSink: { uri: 'http://dls' } });
    expect(() => deliveryPolicy({ retry: -1 })).toThrow(/spec\.delivery\.retry/);
    expect(() => deliveryPolicy({ backoffPolicy: 'cubic' as never })).toThrow(/spec\.delivery\.backoffPolicy/);
  });
});

describe('ApiServerSource and PingSource events', () => {
  it('Reference mode: type, extensions, subject, data', () => {
    const obj = {
      apiVersion: 'redis.redis/v1beta1',
      kind: 'RedisCluster',
      metadata: { name: 'rc1', namespace: 'cache', uid: 'u' },
      spec: { masters: 3 },
    };
    const e = apiServerSourceEvent('Reference', 'update', obj, 'http://127.0.0.1:8001', 'redisclusters');
    const msg = HTTP.binary(e);
    expect(msg.headers).toMatchObject({
      'ce-type': 'dev.knative.apiserver.ref.update',
      'ce-source': 'http://127.0.0.1:8001',
      'ce-subject': '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/rc1',
      'ce-kind': 'RedisCluster',
      'ce-apiversion': 'redis.redis/v1beta1',
      'ce-name': 'rc1',
      'ce-namespace': 'cache',
      'content-type': 'application/json',
    });
    expect(JSON.parse(msg.body as string)).toEqual({
      apiVersion: 'redis.redis/v1beta1',
      kind: 'RedisCluster',
      name: 'rc1',
      namespace: 'cache',
    });
    const again = apiServerSourceEvent('Reference', 'update', obj, 'http://127.0.0.1:8001');
    expect(again.id).not.toBe(e.id);
  });
  it('Resource mode carries the whole object; core kinds get /apis/v1 subjects', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' }, status: { phase: 'Running' } };
    const e = apiServerSourceEvent('Resource', 'delete', pod, 'http://api');
    expect(e.type).toBe('dev.knative.apiserver.resource.delete');
    expect(e.data).toEqual(pod);
    expect(e.subject).toBe('/apis/v1/namespaces/ns/pods/p');
    expect(apiServerSubject('v1', 'Endpoints', 'ns', 'e')).toBe('/apis/v1/namespaces/ns/endpointses/e');
    expect(guessPlural('Policy')).toBe('policies');
  });
  it('PingSource event and schedule', () => {
    const e = pingEvent('redis-operator', 'resync', { data: '{"reason":"resync"}', contentType: 'application/json' });
    expect(e.type).toBe('dev.knative.sources.ping');
    expect(e.source).toBe('/apis/v1/namespaces/redis-operator/pingsources/resync');
    expect(e.data).toEqual({ reason: 'resync' });
    const from = new Date('2026-01-01T10:00:30Z');
    expect(nextPing({ schedule: '* * * * *' }, from).toISOString()).toBe('2026-01-01T10:01:00.000Z');
    expect(nextPing({ schedule: '0 9 * * *', timezone: 'Europe/Paris' }, from).toISOString()).toBe('2026-01-02T08:00:00.000Z');
    expect(() => validatePingSchedule({ schedule: 'every minute' })).toThrow(/spec\.schedule/);
    expect(() => validatePingSchedule({ schedule: '* * * * *', timezone: 'Mars/Base' })).toThrow(/spec\.timezone/);
  });
  it('label selectors and uri joining', () => {
    const sel = {
      matchLabels: { app: 'x' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['a', 'b'] },
        { key: 'gone', operator: 'DoesNotExist' },
      ],
    };
    expect(labelSelectorString(sel)).toBe('app=x,tier in (a,b),!gone');
    expect(matchesLabelSelector({ app: 'x', tier: 'b' }, sel, 'everything')).toBe(true);
    expect(matchesLabelSelector({ app: 'x', tier: 'c' }, sel, 'everything')).toBe(false);
    expect(matchesLabelSelector({ app: 'x', tier: 'a', gone: '1' }, sel, 'everything')).toBe(false);
    expect(matchesLabelSelector(undefined, {}, 'everything')).toBe(true);
    expect(joinUri('http://h:1/ns/svc', '/hook')).toBe('http://h:1/ns/svc/hook');
    expect(joinUri('http://h:1/ns/svc', 'http://other/x')).toBe('http://other/x');
  });
});
