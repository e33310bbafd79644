// Property-based fuzzing of the alert-bridge webhook: valid Alertmanager payloads become exactly
// one event per alert that names a cluster; anything else is a 4xx naming what is wrong, and
// reaches the Broker never.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertBridgeHost, WEBHOOK_PATH } from '../../functions/alert-bridge/handler.js';
import { alertmanagerWebhookSchema } from '../../shared/events/catalog.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { countingSink, runs, Tally } from './runs.js';

const TOKEN = 'fuzz-token';
let sink: Awaited<ReturnType<typeof countingSink>>;
let bridge: ListeningHost;
let url: string;

beforeAll(async () => {
  sink = await countingSink();
  bridge = await createAlertBridgeHost({
    token: TOKEN,
    config: { K_SINK: sink.url, LOG_LEVEL: 'silent', MAX_BODY_BYTES: 64 * 1024 },
  }).listen(0, '127.0.0.1');
  url = `${bridge.url}${WEBHOOK_PATH}`;
});

afterAll(async () => {
  // Never a crash: the host still answers its health check after every run.
  expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  await bridge?.close();
  await sink?.close();
});

const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
const labelMap = fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 }), { maxKeys: 4 });
const isoTime = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
const status = fc.constantFrom('firing', 'resolved');

// An alert of Alertmanager's webhook v4; `named` says whether it names its cluster.
const alert = fc.record({
  named: fc.boolean(),
  cluster: name,
  namespace: name,
  extra: labelMap,
  status,
  annotations: labelMap,
  startsAt: isoTime,
  endsAt: fc.option(isoTime, { nil: undefined }),
  generatorURL: fc.webUrl(),
  fingerprint: fc.stringMatching(/^[0-9a-f]{16}$/),
});
type AlertShape = typeof alert extends fc.Arbitrary<infer A> ? A : never;

function alertJson(a: AlertShape): Record<string, unknown> {
  const labels: Record<string, string> = { ...a.extra, alertname: 'HighMemoryUsage' };
  delete labels['redis_cluster'];
  delete labels['namespace'];
  if (a.named) Object.assign(labels, { redis_cluster: a.cluster, namespace: a.namespace });
  return {
    status: a.status,
    labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    ...(a.endsAt ? { endsAt: a.endsAt } : {}),
    generatorURL: a.generatorURL,
    fingerprint: a.fingerprint,
  };
}

const webhook = fc.record({ alerts: fc.array(alert, { maxLength: 4 }), status, receiver: fc.string(), groupKey: fc.string() }).map((w) => ({
  named: w.alerts.filter((a) => a.named).length,
  body: {
    version: '4',
    groupKey: w.groupKey,
    truncatedAlerts: 0,
    status: w.status,
    receiver: w.receiver,
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: w.alerts.map(alertJson),
  },
}));

// The fields whose type the schema fixes, each paired with a value it refuses.
const badField = fc.oneof(
  fc.record({ path: fc.constant(['status']), value: fc.jsonValue().filter((v) => v !== 'firing' && v !== 'resolved') }),
  fc.record({ path: fc.constant(['alerts']), value: fc.jsonValue().filter((v) => !Array.isArray(v)) }),
  fc.record({
    path: fc.constant(['truncatedAlerts']),
    value: fc.oneof(
      fc.double().filter((d) => !Number.isInteger(d)),
      fc.string(),
      fc.integer({ max: -1 }),
    ),
  }),
  fc.record({ path: fc.constant(['alerts', 0, 'startsAt']), value: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }),
  fc.record({ path: fc.constant(['alerts', 0, 'labels']), value: fc.oneof(fc.string(), fc.array(fc.string(), { minLength: 1 })) }),
  fc.record({ path: fc.constant(['alerts', 0, 'status']), value: fc.jsonValue().filter((v) => v !== 'firing' && v !== 'resolved') }),
);

function fieldName(path: readonly (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${k}`)).join('');
}

function post(body: string, auth = `Bearer ${TOKEN}`) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body });
}

async function refusedWithoutEvent(res: Response, status: number): Promise<{ error: string; field?: string }> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: string; field?: string };
  expect(typeof body.error).toBe('string');
  expect(body.error.length).toBeGreaterThan(0);
  return body;
}

describe('alert-bridge webhook under generated input', () => {
  it('a valid payload: 200, and exactly one event per alert that names its cluster', async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(webhook, async ({ named, body }) => {
        tally.generated++;
        const before = sink.received();
        const res = await post(JSON.stringify(body));
        expect(res.status).toBe(200);
        const answer = (await res.json()) as { events: unknown[]; skipped: unknown[] };
        expect(answer.events).toHaveLength(named);
        expect(answer.events.length + answer.skipped.length).toBe(body.alerts.length);
        expect(sink.received() - before).toBe(named);
      }),
      { numRuns: runs(60) },
    );
    tally.report('alert-bridge valid payload');
  });

  it('one bad field in an otherwise valid payload: 400 naming that field, no event', async () => {
    const tally = new Tally();
    const withAlert = webhook.filter((w) => w.body.alerts.length > 0);
    await fc.assert(
      fc.asyncProperty(withAlert, badField, async ({ body }, bad) => {
        tally.generated++;
        const mutated = structuredClone(body) as Record<string, unknown>;
        let at: Record<string | number, unknown> = mutated;
        for (const key of bad.path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
        at[bad.path.at(-1)!] = bad.value;
        const before = sink.received();
        const answer = await refusedWithoutEvent(await post(JSON.stringify(mutated)), 400);
        expect(answer.field).toBe(fieldName(bad.path));
        expect(answer.error).toContain(fieldName(bad.path));
        expect(sink.received()).toBe(before);
      }),
      { numRuns: runs(150) },
    );
    tally.report('alert-bridge bad field');
  });

  it('any JSON value or byte string that is no webhook payload: 400 with a message, no event', async () => {
    const tally = new Tally();
    const notWebhook = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ unit: 'binary', maxLength: 200 }),
    );
    await fc.assert(
      fc.asyncProperty(notWebhook, async (raw) => {
        let decoded: unknown;
        try {
          decoded = JSON.parse(raw);
        } catch {
          decoded = undefined;
        }
        fc.pre(decoded === undefined || !alertmanagerWebhookSchema.safeParse(decoded).success);
        tally.generated++;
        const before = sink.received();
        await refusedWithoutEvent(await post(raw), 400);
        expect(sink.received()).toBe(before);
      }),
      { numRuns: runs(150) },
    );
    tally.report('alert-bridge not a payload');
  });

  it('a wrong or malformed bearer token: 401 with a message, no event, whatever the body', async () => {
    const tally = new Tally();
    const auth = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 60 }),
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }).map((t) => `Bearer ${t}`),
      fc.constantFrom(`Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN} ${TOKEN}`),
    );
    await fc.assert(
      fc.asyncProperty(auth, webhook, async (header, { body }) => {
        fc.pre(header.trim() !== `Bearer ${TOKEN}` && !/^bearer\s+fuzz-token\s*$/i.test(header.trim()));
        tally.generated++;
        const before = sink.received();
        await refusedWithoutEvent(await post(JSON.stringify(body), header), 401);
        expect(sink.received()).toBe(before);
      }),
      { numRuns: runs(100) },
    );
    tally.report('alert-bridge bearer token');
  });
});
