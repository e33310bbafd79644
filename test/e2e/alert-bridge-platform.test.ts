// Alertmanager -> front door -> alert-bridge -> Broker on the embedded platform, for what goes
// wrong: garbage bodies answer 400 naming the field (413 above the size limit) and leave the bridge
// process running; unknown fields are accepted; with the Broker down a valid alert answers 5xx, so
// Alertmanager sends it again, and once the Broker is back the same alert answers 200 and its
// event reaches a Trigger's subscriber. The subscriber is a plain HTTP server of this test behind
// a Trigger of its own, so what the Broker delivers is seen as Knative delivers it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, useE2E } from '../helpers/e2e.js';

const OPERATOR_NS = 'redis-operator';
const TOKEN = 'e2e-bridge-token';
/** No such RedisCluster exists: the scale function ignores the alerts, the test's Trigger sees them. */
const CLUSTER = 'bridge-e2e';
const FIRING = 'redis.redis.alert.firing.v1';
/** MAX_BODY_BYTES of the alert-bridge Service in knative/services.yaml. */
const BODY_LIMIT = 262_144;

interface Delivered {
  headers: IncomingHttpHeaders;
  body: string;
}

const delivered: Delivered[] = [];
let subscriber: Server | undefined;
let webhook: string;

function startSubscriber(): Promise<string> {
  subscriber = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      delivered.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      // 2xx without a body: accepted, no reply.
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) =>
    subscriber!.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(subscriber!.address() as AddressInfo).port}/`)),
  );
}

const e2e = useE2E({}, async (e) => {
  await e.platform.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'alert-bridge-webhook', namespace: OPERATOR_NS },
    data: { token: Buffer.from(TOKEN).toString('base64') },
  });
  const subscriberUri = await startSubscriber();
  await e.platform.kube.apply({
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Trigger',
    metadata: { name: 'alert-bridge-e2e-observer', namespace: OPERATOR_NS },
    spec: {
      broker: 'default',
      filters: [{ exact: { type: FIRING } }, { exact: { rcname: CLUSTER } }],
      subscriber: { uri: subscriberUri },
    },
  });
  await eventually(
    'the observer Trigger to be Ready',
    async () => {
      const t = await e.platform.kube.get('eventing.knative.dev/v1', 'Trigger', 'alert-bridge-e2e-observer', OPERATOR_NS);
      return (t?.status?.conditions as { type: string; status: string }[] | undefined)?.some(
        (c) => c.type === 'Ready' && c.status === 'True',
      );
    },
    20_000,
  );
  // The alert-bridge's Knative URL (http://alert-bridge.redis-operator.svc.cluster.local/...), through the activator.
  webhook = `${e.platform.urls.serving}/redis-operator/alert-bridge/webhooks/alertmanager`;
});

afterAll(async () => {
  await new Promise<void>((r) => (subscriber ? subscriber.close(() => r()) : r()));
});

function alert(fingerprint: string, alertname = 'HighMemoryUsage') {
  return {
    status: 'firing',
    labels: { alertname, namespace: 'cache', redis_cluster: CLUSTER, severity: 'warning', instance: '127.0.0.2:15000' },
    annotations: { summary: `${alertname} on ${CLUSTER}` },
    startsAt: '2026-03-02T10:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=redis_memory_used_bytes',
    fingerprint,
  };
}

function webhookPayload(...alerts: unknown[]) {
  return {
    receiver: 'redis-operator',
    status: 'firing',
    alerts,
    groupLabels: { alertname: 'HighMemoryUsage' },
    commonLabels: { namespace: 'cache', redis_cluster: CLUSTER },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    version: '4',
    groupKey: '{}:{alertname="HighMemoryUsage"}',
    truncatedAlerts: 0,
  };
}

interface Answer {
  status: number;
  body: { error?: string; field?: string; events?: { id: string; type: string; cluster: string }[] };
  text: string;
}

async function post(body: string): Promise<Answer> {
  const res = await fetch(webhook, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body,
  });
  const text = await res.text();
  let parsed: Answer['body'] = {};
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    // not JSON: the assertions on the body say so
  }
  return { status: res.status, body: parsed, text };
}

const send = (payload: unknown) => post(JSON.stringify(payload));

const bridgePid = () => e2e.platform.serving.process(OPERATOR_NS, 'alert-bridge')?.pid;

const deliveredIds = (from = 0) => delivered.slice(from).map((d) => d.headers['ce-id']);

/** Waits until the test's subscriber received the event `id` through the Broker. */
function reachesSubscriber(id: string) {
  return eventually(
    `event ${id} delivered to the Trigger's subscriber`,
    async () => delivered.find((d) => d.headers['ce-id'] === id),
    20_000,
    100,
  );
}

describe('alert-bridge on the platform: bad input and a Broker outage', () => {
  let pid: number | undefined;

  it('forwards a valid alert through the front door to the Broker', async () => {
    const res = await send(webhookPayload(alert('a0000000000000001')));
    expect(res.status, res.text).toBe(200);
    expect(res.body.events).toHaveLength(1);
    const [event] = res.body.events!;
    expect(event).toMatchObject({ type: FIRING, cluster: `cache/${CLUSTER}` });
    const got = await reachesSubscriber(event!.id);
    expect(got.headers['ce-source']).toBe('/redis-operator/alert-bridge');
    expect(got.headers['ce-rcnamespace']).toBe('cache');
    pid = bridgePid();
    expect(pid).toBeGreaterThan(0);
  }, 60_000);

  it('answers 400 naming the field on garbage, 413 above the size limit, and keeps running', async () => {
    const before = delivered.length;
    const valid = webhookPayload(alert('a0000000000000002'));
    const withoutLabels = { ...alert('a0000000000000003') } as Record<string, unknown>;
    delete withoutLabels.labels;
    const withoutStatus = { ...alert('a0000000000000004') } as Record<string, unknown>;
    delete withoutStatus.status;
    const cases: { what: string; body: string; field: string; message?: RegExp }[] = [
      { what: 'a JSON array', body: JSON.stringify([valid]), field: '(body)' },
      { what: 'alerts as an object', body: JSON.stringify({ ...valid, alerts: alert('a0000000000000005') }), field: 'alerts' },
      { what: 'alerts as a string', body: JSON.stringify({ ...valid, alerts: 'HighMemoryUsage' }), field: 'alerts' },
      {
        what: 'an alert without labels',
        body: JSON.stringify(webhookPayload(withoutLabels)),
        field: 'alerts[0].labels',
        message: /is required/,
      },
      {
        what: 'an alert without status',
        body: JSON.stringify(webhookPayload(withoutStatus)),
        field: 'alerts[0].status',
        message: /is required/,
      },
      // A valid first alert does not make it through when a later one is broken.
      {
        what: 'a second alert without labels',
        body: JSON.stringify(webhookPayload(alert('a0000000000000006'), withoutLabels)),
        field: 'alerts[1].labels',
        message: /is required/,
      },
      {
        what: 'an unknown alert status',
        body: JSON.stringify(webhookPayload({ ...alert('a0000000000000007'), status: 'burning' })),
        field: 'alerts[0].status',
      },
      {
        what: 'a label that is a number',
        body: JSON.stringify(webhookPayload({ ...alert('a0000000000000008'), labels: { ...alert('x').labels, severity: 3 } })),
        field: 'alerts[0].labels.severity',
      },
      {
        what: 'startsAt as a number',
        body: JSON.stringify(webhookPayload({ ...alert('a0000000000000009'), startsAt: 1767225600 })),
        field: 'alerts[0].startsAt',
      },
      {
        what: 'startsAt that is no time',
        body: JSON.stringify(webhookPayload({ ...alert('a000000000000000a'), startsAt: 'yesterday' })),
        field: 'alerts[0].startsAt',
      },
      { what: 'truncatedAlerts as a string', body: JSON.stringify({ ...valid, truncatedAlerts: '3' }), field: 'truncatedAlerts' },
      { what: 'status as a number', body: JSON.stringify({ ...valid, status: 1 }), field: 'status' },
    ];

    const notJson = await post('{"receiver": "redis-operator", "alerts": [');
    expect(notJson.status, notJson.text).toBe(400);
    expect(notJson.body.error).toMatch(/not valid JSON/);

    for (const c of cases) {
      const res = await post(c.body);
      expect(res.status, `${c.what}: ${res.text}`).toBe(400);
      expect(res.body.field, c.what).toBe(c.field);
      expect(res.body.error, c.what).toContain(`${c.field}:`);
      if (c.message) expect(res.body.error, c.what).toMatch(c.message);
    }

    const huge = await send({ ...valid, commonAnnotations: { description: 'x'.repeat(BODY_LIMIT) } });
    expect(huge.status, huge.text).toBe(413);

    const after = await send(valid);
    expect(after.status, after.text).toBe(200);
    const id = after.body.events![0]!.id;
    await reachesSubscriber(id);
    // Nothing of the refused bodies reached the Broker, and the process that refused them answered.
    expect(deliveredIds(before)).toEqual([id]);
    expect(bridgePid()).toBe(pid);
  }, 60_000);

  it('accepts unknown fields in a valid payload', async () => {
    const payload = {
      ...webhookPayload({
        ...alert('a000000000000000b'),
        silenceURL: 'http://alertmanager:9093/#/silences/new',
        extra: { nested: [1, 2] },
      }),
      routeLabels: { team: 'cache' },
      notifiedAt: '2026-03-02T10:00:05Z',
    };
    const res = await send(payload);
    expect(res.status, res.text).toBe(200);
    expect(res.body.events).toHaveLength(1);
    await reachesSubscriber(res.body.events![0]!.id);
    expect(bridgePid()).toBe(pid);
  }, 30_000);

  // Last: the Broker ingress is closed for the whole platform while this runs.
  it('answers 5xx while the Broker is down, and 200 for the same alert once it is back', async () => {
    const eventing = e2e.platform.eventing;
    const brokerUrl = eventing.brokerUrl(OPERATOR_NS, 'default');
    const payload = webhookPayload(alert('a000000000000000c', 'HighThroughput'));
    const before = delivered.length;
    // The Broker down as Knative has it when broker-ingress has no ready Pod: its address (the
    // bridge's K_SINK) refuses connections. Its object, the Triggers and the bridge stay as they are.
    await eventing.stopIngress();
    try {
      await expect(fetch(brokerUrl, { method: 'POST', body: '{}' })).rejects.toThrow();
      const down = await send(payload);
      expect(down.status, down.text).toBeGreaterThanOrEqual(500);
      expect(down.status, down.text).toBeLessThan(600);
      expect(down.body.error).toMatch(/not accepted by the sink/);
    } finally {
      await eventing.startIngress();
    }

    // Alertmanager's retry of the same group once the Broker answers again.
    const back = await send(payload);
    expect(back.status, back.text).toBe(200);
    const id = back.body.events![0]!.id;
    const got = await reachesSubscriber(id);
    expect(got.headers['ce-alertname']).toBe('HighThroughput');
    expect(deliveredIds(before)).toEqual([id]);
    expect(bridgePid()).toBe(pid);
  }, 60_000);
});
