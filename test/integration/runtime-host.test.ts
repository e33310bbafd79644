// The function host over real HTTP: what it accepts, what it refuses, and with which status.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP, type CloudEventV1 } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, deriveEventId, parseEvent, type ParsedEvent } from '../../shared/events/index.js';
import { ack, createFunctionHost, poison, reply, retry, type HandlerContext, type ListeningHost } from '../../shared/runtime/index.js';
import { errorOf, postBinary, postRaw, postStructured } from '../helpers/http.js';

const cluster = { namespace: 'cache', name: 'rediscluster1' };
const silent = { LOG_LEVEL: 'silent' as const };

interface Seen {
  handler: string;
  event: ParsedEvent;
  cluster: HandlerContext['cluster'];
}

const seen: Seen[] = [];
let server: ListeningHost;
let url: string;

function refEvent(type: 'dev.knative.apiserver.ref.add' | 'dev.knative.apiserver.ref.update' = 'dev.knative.apiserver.ref.update') {
  return buildEvent(type, { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', ...cluster }, { source: 'https://10.96.0.1:443' });
}

function requested(generation: number, reason?: string) {
  return buildEvent(
    'redis.redis.reshard.requested.v1',
    { cluster, generation, ...(reason ? { reason } : {}) },
    { source: '/redis-operator/reconcile' },
  );
}

beforeAll(async () => {
  const host = createFunctionHost({
    name: 'test-fn',
    config: { ...silent, MAX_BODY_BYTES: 4096 },
    handlers: {
      'dev.knative.apiserver.ref.': async (event, ctx) => {
        seen.push({ handler: 'ref-prefix', event, cluster: ctx.cluster });
        return ack();
      },
      'dev.knative.apiserver.ref.delete': async (event, ctx) => {
        seen.push({ handler: 'ref-delete', event, cluster: ctx.cluster });
        return ack();
      },
      'redis.redis.reshard.requested.v1': async (event, ctx) => {
        seen.push({ handler: 'requested', event, cluster: ctx.cluster });
        // The reason steers the answer, so one handler shows every result kind.
        switch (event.data.reason) {
          case 'busy':
            return retry('lease held by another reshard', 503);
          case 'conflict':
            return retry('resourceVersion changed', 409);
          case 'slow-down':
            return retry('too many requests', 429);
          case 'plain-retry':
            return retry('try again');
          case 'bad':
            return poison(`generation ${event.data.generation} can never be resharded`);
          case 'crash':
            throw new Error('redis connection reset');
          default:
            return reply(
              buildEvent(
                'redis.redis.reshard.progressed.v1',
                { cluster: event.data.cluster, generation: event.data.generation, step: 1, slotsMoved: 100, slotsTotal: 400 },
                { source: ctx.source, cause: event },
              ),
            );
        }
      },
    },
  });
  server = await host.listen(0, '127.0.0.1');
  url = server.url;
});

afterAll(async () => {
  await server?.close();
});

describe('accepted events are dispatched', () => {
  it('binary mode: 202 with an empty body, the handler got typed data and the cluster', async () => {
    const event = refEvent();
    const answer = await postBinary(url, event);
    expect(answer.status).toBe(202);
    expect(answer.text).toBe('');
    const got = seen.find((s) => s.event.id === event.id)!;
    expect(got.handler).toBe('ref-prefix');
    expect(got.event.type).toBe('dev.knative.apiserver.ref.update');
    expect(got.event.data).toEqual({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', ...cluster });
    expect(got.cluster).toEqual(cluster);
  });

  it('structured mode: accepted the same way', async () => {
    const event = refEvent('dev.knative.apiserver.ref.add');
    const answer = await postStructured(url, event);
    expect(answer.status).toBe(202);
    const got = seen.find((s) => s.event.id === event.id)!;
    expect(got.event.type).toBe('dev.knative.apiserver.ref.add');
    expect(got.cluster).toEqual(cluster);
  });

  it('an exact type wins over a prefix', async () => {
    const event = buildEvent(
      'dev.knative.apiserver.ref.delete',
      { apiVersion: 'v1', kind: 'Pod', name: 'rediscluster1-0', namespace: 'cache' },
      { source: 'https://api' },
    );
    expect((await postBinary(url, event)).status).toBe(202);
    const got = seen.find((s) => s.event.id === event.id)!;
    expect(got.handler).toBe('ref-delete');
    expect(got.cluster).toBeUndefined();
  });

  it('a content type with parameters (charset) is fine', async () => {
    const event = refEvent();
    const message = HTTP.binary(event);
    const headers = { ...(message.headers as Record<string, string>), 'content-type': 'application/json;charset=UTF-8' };
    expect((await postRaw(url, headers, String(message.body))).status).toBe(202);
    expect(seen.some((s) => s.event.id === event.id)).toBe(true);
  });
});

describe('a reply', () => {
  it('is a 200 with a CloudEvent in binary mode that round-trips through the cloudevents parser', async () => {
    const cause = requested(7);
    const answer = await postBinary(url, cause);
    expect(answer.status).toBe(200);
    expect(answer.headers['ce-type']).toBe('redis.redis.reshard.progressed.v1');
    const decoded = HTTP.toEvent({ headers: answer.headers, body: answer.text }) as CloudEventV1<unknown>;
    (decoded as CloudEvent<unknown>).validate();
    const back = parseEvent(decoded);
    expect(back.type).toBe('redis.redis.reshard.progressed.v1');
    expect(back.source).toBe('/redis-operator/test-fn');
    expect(back.data).toEqual({ cluster, generation: 7, step: 1, slotsMoved: 100, slotsTotal: 400 });
    expect(back.extensions).toEqual({ rcnamespace: 'cache', rcname: 'rediscluster1' });
    // Derived from the cause: a redelivery of the same request yields the same reply id.
    expect(back.id).toBe(deriveEventId('redis.redis.reshard.progressed.v1', back.data as never, cause));
    const again = await postBinary(url, cause);
    expect(again.headers['ce-id']).toBe(back.id);
  });
});

describe('handler results map to statuses', () => {
  it.each([
    ['busy', 503, 'lease held by another reshard'],
    ['conflict', 409, 'resourceVersion changed'],
    ['slow-down', 429, 'too many requests'],
    ['plain-retry', 500, 'try again'],
    ['bad', 400, 'generation 3 can never be resharded'],
    ['crash', 500, 'redis connection reset'],
  ])('%s -> %i', async (reason, status, message) => {
    const answer = await postBinary(url, requested(3, reason));
    expect(answer.status).toBe(status);
    expect(errorOf(answer)).toContain(message);
  });
});

describe('bad requests get the right status and a message naming the problem', () => {
  const good = () => HTTP.binary(refEvent());
  const binaryHeaders = () => ({ ...(good().headers as Record<string, string>) });

  it('malformed JSON data (binary) -> 400', async () => {
    const answer = await postRaw(url, binaryHeaders(), '{"kind": "RedisCluster",');
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/malformed JSON in the event data/);
  });

  it('a malformed structured event -> 400', async () => {
    const answer = await postRaw(url, { 'content-type': 'application/cloudevents+json' }, '{"specversion": "1.0", "id":');
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/malformed JSON in the structured CloudEvent/);
  });

  it('missing ce-id (binary) -> 400 naming it', async () => {
    const headers = binaryHeaders();
    delete headers['ce-id'];
    const answer = await postRaw(url, headers, String(good().body));
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/missing required CloudEvent attribute id .*ce-id/);
  });

  it('missing source and type (structured) -> 400 naming both', async () => {
    const body = JSON.stringify({ specversion: '1.0', id: 'x1', data: {} });
    const answer = await postRaw(url, { 'content-type': 'application/cloudevents+json' }, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/attributes source, type/);
  });

  it('an unsupported specversion -> 400', async () => {
    const headers = { ...binaryHeaders(), 'ce-specversion': '9.9' };
    const answer = await postRaw(url, headers, String(good().body));
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/unsupported specversion "9.9"/);
  });

  it('a plain text request that is no CloudEvent -> 415', async () => {
    const answer = await postRaw(url, { 'content-type': 'text/plain' }, 'hello');
    expect(answer.status).toBe(415);
    expect(errorOf(answer)).toMatch(/text\/plain is not a CloudEvent/);
  });

  it('binary mode with non-JSON data -> 415', async () => {
    const headers = { ...binaryHeaders(), 'content-type': 'application/xml' };
    const answer = await postRaw(url, headers, '<cluster/>');
    expect(answer.status).toBe(415);
    expect(errorOf(answer)).toMatch(/application\/xml is not supported/);
  });

  it('plain JSON without any CloudEvent attribute -> 400 naming them', async () => {
    const answer = await postRaw(url, { 'content-type': 'application/json' }, '{"hello": 1}');
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/attributes id, source, type, specversion/);
  });

  it('an oversized body -> 413 naming the limit', async () => {
    const event = buildEvent('redis.redis.reshard.requested.v1', { cluster, generation: 1, reason: 'x'.repeat(10_000) }, { source: '/t' });
    const answer = await postBinary(url, event);
    expect(answer.status).toBe(413);
    expect(errorOf(answer)).toMatch(/exceeds the limit of 4096 bytes \(MAX_BODY_BYTES\)/);
    expect(seen.some((s) => s.event.id === event.id)).toBe(false);
  });

  it('a type outside the catalog -> 400 (not 404, which Knative would retry)', async () => {
    const event = new CloudEvent({ type: 'com.example.unknown.v1', source: '/t', id: 'u1', data: {} });
    const answer = await postBinary(url, event);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/unknown event type "com.example.unknown.v1"/);
  });

  it('a catalog type this function has no handler for -> 400 listing what it handles', async () => {
    const event = buildEvent('dev.knative.sources.ping', { reason: 'resync' }, { source: '/ping' });
    const answer = await postBinary(url, event);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(
      /test-fn has no handler for event type dev.knative.sources.ping; it handles dev.knative.apiserver.ref.\*/,
    );
  });

  it('data that fails the catalog schema -> 400 naming the field', async () => {
    const event = new CloudEvent({
      type: 'redis.redis.reshard.requested.v1',
      source: '/t',
      id: 'd1',
      rcnamespace: 'cache',
      rcname: 'rediscluster1',
      data: { cluster: { namespace: 'cache' }, generation: 1 },
    });
    const answer = await postBinary(url, event);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toBe('invalid event: redis.redis.reshard.requested.v1: data.cluster.name is required');
  });

  it('batch mode -> 400, clearly refused', async () => {
    const body = JSON.stringify([refEvent(), refEvent()]);
    const answer = await postRaw(url, { 'content-type': 'application/cloudevents-batch+json' }, body);
    expect(answer.status).toBe(400);
    expect(errorOf(answer)).toMatch(/batch mode is not supported/);
  });
});

describe('health and metrics', () => {
  it('/healthz and /readyz answer 200 while serving', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true });
  });

  it('/metrics shows the event counters, the handler histogram and the default metrics', async () => {
    const before = await (await fetch(`${url}/metrics`)).text();
    const count = (text: string, type: string, outcome: string) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith('events_total{') && l.includes(`type="${type}"`) && l.includes(`outcome="${outcome}"`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const acks = count(before, 'dev.knative.apiserver.ref.update', 'ack');
    await postBinary(url, refEvent());
    await postBinary(url, refEvent());
    await postBinary(url, requested(9, 'busy'));
    const after = await (await fetch(`${url}/metrics`)).text();
    expect(count(after, 'dev.knative.apiserver.ref.update', 'ack')).toBe(acks + 2);
    expect(count(after, 'redis.redis.reshard.requested.v1', 'retry')).toBeGreaterThanOrEqual(2);
    expect(count(after, 'redis.redis.reshard.requested.v1', 'poison')).toBeGreaterThanOrEqual(1);
    expect(count(after, 'redis.redis.reshard.requested.v1', 'error')).toBeGreaterThanOrEqual(1);
    expect(count(after, 'redis.redis.reshard.requested.v1', 'reply')).toBeGreaterThanOrEqual(1);
    expect(count(after, 'unknown', 'rejected')).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/event_handler_duration_seconds_count\{[^}]*type="dev.knative.apiserver.ref.update"[^}]*outcome="ack"/);
    expect(after).toContain('function="test-fn"');
    expect(after).toContain('process_cpu_user_seconds_total');
  });
});

describe('a host without events, with routes of its own', () => {
  it('serves its routes and health, has no POST / endpoint, and keeps its own metrics registry', async () => {
    const host = createFunctionHost({
      name: 'plain',
      config: silent,
      routes: (router) => {
        router.get('/cluster/nodes', (req, res) => {
          res.json([{ ip: '10.0.0.1', port: 10000, asked: req.query['clusterName'] }]);
        });
      },
    });
    const plain = await host.listen(0, '127.0.0.1');
    try {
      const nodes = await fetch(`${plain.url}/cluster/nodes?clusterName=rc`);
      expect(await nodes.json()).toEqual([{ ip: '10.0.0.1', port: 10000, asked: 'rc' }]);
      expect((await postBinary(plain.url, refEvent())).status).toBe(404);
      const metrics = await (await fetch(`${plain.url}/metrics`)).text();
      expect(metrics).toContain('function="plain"');
      expect(metrics).not.toContain('function="test-fn"');
    } finally {
      await plain.close();
    }
    await expect(fetch(`${plain.url}/healthz`)).rejects.toThrow();
  });
});

describe('close()', () => {
  it('lets an in-flight handler finish and answer, refuses new events, then stops', async () => {
    let release!: () => void;
    let started!: () => void;
    let abortedAtStart: boolean | undefined;
    let abortedAtEnd: boolean | undefined;
    const running = new Promise<void>((r) => (started = r));
    const host = createFunctionHost({
      name: 'draining',
      config: silent,
      handlers: {
        'redis.redis.reshard.requested.v1': async (_event, ctx) => {
          started();
          abortedAtStart = ctx.shutdown.aborted;
          await new Promise<void>((r) => (release = r));
          abortedAtEnd = ctx.shutdown.aborted;
          return ack();
        },
      },
    });
    const listening = await host.listen(0, '127.0.0.1');
    const inFlight = postBinary(listening.url, requested(1));
    await running;
    const closed = listening.close();
    expect(host.shuttingDown).toBe(true);
    // The listener is closed to new connections; the same app on a side listener shows readiness.
    const side = createServer(host.app).listen(0, '127.0.0.1');
    await once(side, 'listening');
    const sideUrl = `http://127.0.0.1:${(side.address() as AddressInfo).port}`;
    const ready = await fetch(`${sideUrl}/readyz`, { headers: { connection: 'close' } });
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false });
    expect((await fetch(`${sideUrl}/healthz`, { headers: { connection: 'close' } })).status).toBe(200);
    const refused = await postBinary(sideUrl, requested(2));
    expect(refused.status).toBe(503);
    expect(errorOf(refused)).toBe('draining is shutting down');
    side.closeAllConnections();
    side.close();
    let finished = false;
    void closed.then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false);
    release();
    const answer = await inFlight;
    expect(answer.status).toBe(202);
    // The handler was told of the drain (advisory) and still answered with its own result.
    expect([abortedAtStart, abortedAtEnd]).toEqual([false, true]);
    await closed;
    await expect(fetch(`${listening.url}/healthz`)).rejects.toThrow();
  });
});

describe('direct routes', () => {
  it('answer GET and HEAD of their exact path with the query parsed; other methods and paths go to express', async () => {
    const host = createFunctionHost({
      name: 'direct',
      config: silent,
      routes(router, h) {
        h.direct('/hot', (req, res, query) => {
          res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Served': 'direct' }).end(`${req.method} ${JSON.stringify(query)}`);
        });
        router.all('/hot', (req, res) => {
          res.setHeader('X-Served', 'express');
          res.send(`express ${req.method}`);
        });
      },
    });
    const l = await host.listen(0, '127.0.0.1');
    try {
      const get = await fetch(`${l.url}/hot?a=1&a=2&b=%ZZ&c`);
      expect(get.headers.get('x-served')).toBe('direct');
      // As express's own query parser (node:querystring) reads it.
      expect(await get.text()).toBe('GET {"a":["1","2"],"b":"%ZZ","c":""}');
      const head = await fetch(`${l.url}/hot`, { method: 'HEAD' });
      expect(head.headers.get('x-served')).toBe('direct');
      const post = await fetch(`${l.url}/hot`, { method: 'POST' });
      expect(post.headers.get('x-served')).toBe('express');
      expect(await post.text()).toBe('express POST');
      const slash = await fetch(`${l.url}/hot/`);
      expect(slash.headers.get('x-served')).toBe('express');
      expect((await fetch(`${l.url}/healthz`)).status).toBe(200);
    } finally {
      await l.close();
    }
  });

  it('a failing direct handler is a 500 with the JSON error, as express answers one', async () => {
    const host = createFunctionHost({
      name: 'direct-failing',
      config: silent,
      routes(_router, h) {
        h.direct('/boom', async () => {
          throw new Error('boom');
        });
        h.direct('/boom-now', () => {
          throw new Error('boom');
        });
      },
    });
    const l = await host.listen(0, '127.0.0.1');
    try {
      for (const path of ['/boom', '/boom-now']) {
        const r = await fetch(`${l.url}${path}`);
        expect(r.status).toBe(500);
        expect(await r.json()).toEqual({ error: 'internal error' });
      }
    } finally {
      await l.close();
    }
  });

  it('close() waits for a direct request under way', async () => {
    let release = () => {};
    let started = () => {};
    const running = new Promise<void>((r) => (started = r));
    const host = createFunctionHost({
      name: 'direct-draining',
      config: silent,
      routes(_router, h) {
        h.direct('/slow', async (_req, res) => {
          started();
          await new Promise<void>((r) => (release = r));
          res.end('done');
        });
      },
    });
    const l = await host.listen(0, '127.0.0.1');
    const answer = fetch(`${l.url}/slow`);
    await running;
    let finished = false;
    const closed = l.close().then(() => (finished = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(finished).toBe(false);
    release();
    const r = await answer;
    expect(await r.text()).toBe('done');
    await closed;
    expect(finished).toBe(true);
  });
});
