// The emitter against a real local HTTP server standing in for the Broker's ingress.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import { buildEvent, createEmitter, EmitError, parseEvent } from '../../shared/events/index.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

type Behaviour = (attempt: number) => { status: number; body?: string; headers?: Record<string, string> } | 'hang';

let server: Server | undefined;

async function sink(behaviour: Behaviour): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const answer = behaviour(received.length);
      if (answer === 'hang') return;
      res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, received };
}

afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

const event = () =>
  buildEvent(
    'redis.redis.alert.firing.v1',
    {
      status: 'firing',
      labels: { alertname: 'HighMemoryUsage', redis_cluster: 'rc1', namespace: 'cache' },
      startsAt: '2026-01-01T00:00:00Z',
      fingerprint: 'abc',
      cluster: { namespace: 'cache', name: 'rc1' },
    },
    { source: '/redis-operator/alert-bridge' },
  );

describe('createEmitter', () => {
  it('retries a 503 with back-off, then succeeds; every attempt carries the same event in binary mode', async () => {
    const { url, received } = await sink((n) => (n <= 2 ? { status: 503, body: 'busy' } : { status: 202 }));
    const emitter = createEmitter({ sink: url, retries: 3, backoffMs: 20, timeoutMs: 2000 });
    const ev = event();
    const started = Date.now();
    const result = await emitter.send(ev);
    expect(result).toEqual({ status: 202, attempts: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 + 40 - 5);
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers['ce-id']))).toEqual(new Set([ev.id]));
    const last = received[2]!;
    expect(last.headers['ce-type']).toBe('redis.redis.alert.firing.v1');
    expect(last.headers['ce-rcname']).toBe('rc1');
    expect(last.headers['content-type']).toMatch(/^application\/json/);
    const decoded = HTTP.toEvent({ headers: last.headers, body: last.body }) as CloudEventV1<unknown>;
    expect(parseEvent(decoded).data).toEqual(ev.data);
  });

  it('retries 429 and 500 too', async () => {
    const { url, received } = await sink((n) =>
      n === 1 ? { status: 429, headers: { 'retry-after': '0' } } : n === 2 ? { status: 500 } : { status: 200 },
    );
    const result = await createEmitter({ sink: url, retries: 2, backoffMs: 5 }).send(event());
    expect(result.attempts).toBe(3);
    expect(received).toHaveLength(3);
  });

  it('fails loudly on a 400, at once, with the status and the body', async () => {
    const { url, received } = await sink(() => ({ status: 400, body: '{"error":"data.cluster is required"}' }));
    const error = await createEmitter({ sink: url, retries: 5, backoffMs: 5 })
      .send(event())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmitError);
    const e = error as EmitError;
    expect(e.status).toBe(400);
    expect(e.attempts).toBe(1);
    expect(e.body).toBe('{"error":"data.cluster is required"}');
    expect(e.message).toMatch(/failed with 400 Bad Request: \{"error":"data.cluster is required"\}/);
    expect(received).toHaveLength(1);
  });

  it('gives up after its retries on a persistent 503', async () => {
    const { url, received } = await sink(() => ({ status: 503, body: 'still busy' }));
    const error = (await createEmitter({ sink: url, retries: 2, backoffMs: 5 })
      .send(event())
      .catch((e: unknown) => e)) as EmitError;
    expect(error).toBeInstanceOf(EmitError);
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(3);
    expect(error.message).toMatch(/after 3 attempts; last: 503 Service Unavailable: still busy/);
    expect(received).toHaveLength(3);
  });

  it('times out a sink that does not answer, retries, and then fails', async () => {
    const { url, received } = await sink(() => 'hang');
    const started = Date.now();
    const error = (await createEmitter({ sink: url, retries: 1, timeoutMs: 200, backoffMs: 10 })
      .send(event())
      .catch((e: unknown) => e)) as EmitError;
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(EmitError);
    expect(error.message).toMatch(/after 2 attempts; last: no answer within 200 ms/);
    expect(error.status).toBeUndefined();
    expect(received).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(3000);
  });

  it('retries transport errors (nothing listening) and says so', async () => {
    const { url } = await sink(() => ({ status: 202 }));
    server!.close();
    server = undefined;
    const error = (await createEmitter({ sink: url, retries: 1, backoffMs: 5 })
      .send(event())
      .catch((e: unknown) => e)) as EmitError;
    expect(error).toBeInstanceOf(EmitError);
    expect(error.attempts).toBe(2);
    expect(error.message).toMatch(/transport error/);
  });

  it('refuses a missing or malformed sink at creation', () => {
    expect(() => createEmitter({ sink: '' })).toThrow(/K_SINK/);
    expect(() => createEmitter({ sink: 'broker' })).toThrow(/"broker" is not a URL/);
  });
});
