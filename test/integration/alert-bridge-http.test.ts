// The bridge over real HTTP, posting to a real local HTTP sink that records what it receives.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlertBridgeHost, WEBHOOK_PATH } from '../../functions/alert-bridge/handler.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { ConfigError } from '../../shared/runtime/index.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

const TOKEN = 's3cret-token';
let sink: Server;
let sinkUrl: string;
let sinkStatus = 202;
let received: Received[] = [];
let bridge: ListeningHost;
let deadSinkBridge: ListeningHost;
let url: string;

function startSink(): Promise<void> {
  sink = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = sinkStatus;
      res.end();
    });
  });
  return new Promise((resolve) =>
    sink.listen(0, '127.0.0.1', () => {
      sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/redis-operator/default`;
      resolve();
    }),
  );
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const ALERTMANAGER_PAYLOAD = {
  receiver: 'redis-operator',
  status: 'firing',
  alerts: [
    {
      status: 'firing',
      labels: {
        alertname: 'HighMemoryUsage',
        instance: '10.10.80.94:15000',
        namespace: 'cache',
        redis_cluster: 'rediscluster1',
        severity: 'warning',
      },
      annotations: { description: 'memory used above 80% of maxmemory', scale_count: '2' },
      startsAt: '2026-11-24T09:58:30.123Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=redis_memory_used_bytes',
      fingerprint: '5a2c1fd1b8f0e3c4',
    },
    {
      status: 'resolved',
      labels: { alertname: 'LowThroughput', instance: '10.10.96.153:15002', namespace: 'cache', redis_cluster: 'rediscluster1' },
      annotations: {},
      startsAt: '2026-11-24T09:40:00Z',
      endsAt: '2026-11-24T09:55:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: '0c9d8e7f6a5b4c3d',
    },
  ],
  groupLabels: { namespace: 'cache' },
  commonLabels: { namespace: 'cache', redis_cluster: 'rediscluster1' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager:9093',
  version: '4',
  groupKey: '{}/{severity="warning"}:{namespace="cache"}',
  truncatedAlerts: 0,
};

function post(target: string, body: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  return fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

beforeAll(async () => {
  await startSink();
  bridge = await createAlertBridgeHost({
    token: TOKEN,
    config: { K_SINK: sinkUrl, LOG_LEVEL: 'silent', MAX_BODY_BYTES: 64 * 1024 },
  }).listen(0, '127.0.0.1');
  url = `${bridge.url}${WEBHOOK_PATH}`;
  const dead = `http://127.0.0.1:${await closedPort()}/redis-operator/default`;
  deadSinkBridge = await createAlertBridgeHost({ token: TOKEN, sinkRetries: 1, config: { K_SINK: dead, LOG_LEVEL: 'silent' } }).listen(
    0,
    '127.0.0.1',
  );
});

afterAll(async () => {
  await bridge?.close();
  await deadSinkBridge?.close();
  await new Promise<void>((r) => (sink ? sink.close(() => r()) : r()));
});

beforeEach(() => {
  received = [];
  sinkStatus = 202;
});

describe('alert-bridge over HTTP', () => {
  it('turns a real Alertmanager payload into one CloudEvent per alert, posted to the sink before it answers 200', async () => {
    const sent = Date.now();
    const res = await post(url, JSON.stringify(ALERTMANAGER_PAYLOAD));
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { events: { id: string; type: string }[] };
    expect(received).toHaveLength(2);
    const byType = new Map(received.map((r) => [r.headers['ce-type'], r]));
    const firing = byType.get('redis.redis.alert.firing.v1')!;
    expect(firing.headers['ce-source']).toBe('/redis-operator/alert-bridge');
    expect(firing.headers['ce-rcname']).toBe('rediscluster1');
    expect(firing.headers['ce-rcnamespace']).toBe('cache');
    expect(firing.headers['ce-alertname']).toBe('HighMemoryUsage');
    const data = JSON.parse(firing.body) as { annotations: Record<string, string>; fingerprint: string };
    expect(data.annotations.scale_count).toBe('2');
    expect(data.fingerprint).toBe('5a2c1fd1b8f0e3c4');
    expect(byType.get('redis.redis.alert.resolved.v1')!.headers['ce-alertname']).toBe('LowThroughput');
    expect(answer.events.map((e) => e.id).sort()).toEqual(received.map((r) => r.headers['ce-id']).sort());

    // Stamped with when the notification arrived: the events' time, within this request.
    const time = Date.parse(String(firing.headers['ce-time']));
    expect(time).toBeGreaterThanOrEqual(sent);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect((JSON.parse(firing.body) as { receivedAt: string }).receivedAt).toBe(new Date(time).toISOString());

    // Alertmanager's next notification of the same group (repeat_interval) is identical but for
    // when it comes: new ids, so the scale function sees a new request and not a redelivery.
    const ids = new Set(received.map((r) => r.headers['ce-id']));
    received = [];
    await new Promise((r) => setTimeout(r, 5));
    expect((await post(url, JSON.stringify(ALERTMANAGER_PAYLOAD))).status).toBe(200);
    expect(received).toHaveLength(2);
    for (const r of received) expect(ids.has(r.headers['ce-id'])).toBe(false);
  });

  it('answers 401 with WWW-Authenticate: Bearer without a token or with a wrong one, and posts nothing', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer wrong' },
      { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` },
    ]) {
      const res = await post(url, JSON.stringify(ALERTMANAGER_PAYLOAD), headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect(received).toHaveLength(0);
  });

  it('answers 400 naming the field on garbage, and on a body that is not JSON', async () => {
    const bad = { ...ALERTMANAGER_PAYLOAD, alerts: [{ ...ALERTMANAGER_PAYLOAD.alerts[0], startsAt: 'not a time' }] };
    const res = await post(url, JSON.stringify(bad));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; field: string };
    expect(body.field).toBe('alerts[0].startsAt');
    expect(body.error).toContain('alerts[0].startsAt');
    const notJson = await post(url, '{"alerts": [');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/JSON/);
    expect(received).toHaveLength(0);
  });

  it('answers 413 on a body above the limit', async () => {
    const huge = { ...ALERTMANAGER_PAYLOAD, commonAnnotations: { big: 'x'.repeat(100 * 1024) } };
    const res = await post(url, JSON.stringify(huge));
    expect(res.status).toBe(413);
    expect(received).toHaveLength(0);
  });

  it('answers 5xx when the sink is down or refuses, so Alertmanager retries', async () => {
    const down = await post(`${deadSinkBridge.url}${WEBHOOK_PATH}`, JSON.stringify(ALERTMANAGER_PAYLOAD));
    expect(down.status).toBeGreaterThanOrEqual(500);
    expect(((await down.json()) as { error: string }).error).toMatch(/not accepted/);

    sinkStatus = 503;
    const refused = await post(url, JSON.stringify(ALERTMANAGER_PAYLOAD));
    expect(refused.status).toBeGreaterThanOrEqual(500);
    // The bridge's own retries of one event to the sink: each attempt carries the same id.
    const firing = received.filter((r) => r.headers['ce-type'] === 'redis.redis.alert.firing.v1');
    expect(firing.length).toBeGreaterThanOrEqual(2);
    expect(new Set(firing.map((r) => r.headers['ce-id'])).size).toBe(1);
  });

  it('reads the token from a file, and refuses to start without any token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bridge-token-'));
    try {
      writeFileSync(join(dir, 'token'), 'from-file\n');
      const host = await createAlertBridgeHost({ tokenFile: join(dir, 'token'), config: { K_SINK: sinkUrl, LOG_LEVEL: 'silent' } }).listen(
        0,
        '127.0.0.1',
      );
      try {
        expect(
          (await post(`${host.url}${WEBHOOK_PATH}`, JSON.stringify(ALERTMANAGER_PAYLOAD), { authorization: 'Bearer from-file' })).status,
        ).toBe(200);
        writeFileSync(join(dir, 'token'), 'rotated');
        expect(
          (await post(`${host.url}${WEBHOOK_PATH}`, JSON.stringify(ALERTMANAGER_PAYLOAD), { authorization: 'Bearer from-file' })).status,
        ).toBe(401);
        expect(
          (await post(`${host.url}${WEBHOOK_PATH}`, JSON.stringify(ALERTMANAGER_PAYLOAD), { authorization: 'Bearer rotated' })).status,
        ).toBe(200);
      } finally {
        await host.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => createAlertBridgeHost({ config: { LOG_LEVEL: 'silent' } })).toThrow(ConfigError);
  });
});
