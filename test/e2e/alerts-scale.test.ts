// Alertmanager -> alert-bridge (front door, bearer token) -> Broker -> scale -> spec.masters ->
// reconcile + reshard, on the embedded platform: HighMemoryUsage with scale_count 2 grows the
// masters by 2, its re-send inside the cooldown changes nothing, LowMemoryUsage changes nothing
// inside the cooldown and removes one master after it, and an alert at the upper bound changes
// nothing. The cooldown is an hour while the "inside" case runs and is shortened by a spec patch
// for the "after" case, so neither depends on how fast the machine is.
import { describe, expect, it } from 'vitest';
import { loadKeys, verifyKeys } from '../helpers/redis-harness.js';
import { applyCluster, clusterClient, eventually, statusNodes, useE2E, waitForReady } from '../helpers/e2e.js';
import type { KubeObject } from '../../local/apiserver/client.js';

const NS = 'cache';
const NAME = 'autoscaled';
const TOKEN = 'e2e-webhook-token';
const KEYS = 20_000;
const VALUE_BYTES = 16;
/** Long enough that no run outlasts it; the test ends it by a patch. */
const COOLDOWN_S = 3600;
const SHORT_COOLDOWN_S = 1;

let webhook: string;
const e2e = useE2E({ namespaces: [NS] }, async (e) => {
  await e.platform.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'alert-bridge-webhook', namespace: 'redis-operator' },
    data: { token: Buffer.from(TOKEN).toString('base64') },
  });
  // The alert-bridge's Knative URL (http://alert-bridge.redis-operator.svc.cluster.local/...), through the activator.
  webhook = `${e.platform.urls.serving}/redis-operator/alert-bridge/webhooks/alertmanager`;
});

function alertPayload(alertname: string, fingerprint: string, startsAt: string, annotations: Record<string, string> = {}) {
  return {
    receiver: 'redis-operator',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: { alertname, namespace: NS, redis_cluster: NAME, severity: 'warning', instance: '127.0.0.2:15000' },
        annotations: { summary: `${alertname} on ${NAME}`, ...annotations },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph?g0.expr=redis_memory_used_bytes',
        fingerprint,
      },
    ],
    groupLabels: { alertname },
    commonLabels: { alertname, namespace: NS, redis_cluster: NAME },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    version: '4',
    groupKey: `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
  };
}

async function send(payload: unknown): Promise<number> {
  const res = await fetch(webhook, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(payload),
  });
  await res.text();
  return res.status;
}

const mastersOf = async () => ((await e2e.getCluster(NS, NAME))!.spec as { masters: number }).masters;

async function eventReasons(): Promise<string[]> {
  const list = await e2e.platform.kube.list('v1', 'Event', NS);
  return list.items
    .filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === NAME)
    .map((e) => (e as { reason?: string }).reason ?? '');
}

async function readyWithMasters(masters: number, timeoutMs = 300_000): Promise<KubeObject> {
  return eventually(
    `${masters} masters owning the slots, Ready`,
    async () => {
      const obj = await waitForReady(e2e, NS, NAME, timeoutMs, masters);
      const owners = statusNodes(obj).filter((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0);
      return owners.length === masters ? obj : undefined;
    },
    timeoutMs,
    1000,
  );
}

describe('autoscaling from Alertmanager alerts', () => {
  let ready: KubeObject;
  const low = alertPayload('LowMemoryUsage', 'f00dfeed00000002', new Date().toISOString());

  it('forms 3 masters with autoscaling on', async () => {
    ({ ready } = await applyCluster(e2e, {
      name: NAME,
      spec: { replicas: 0, autoscaling: { enabled: true, minMasters: 3, maxMasters: 5, cooldownSeconds: COOLDOWN_S } },
      ports: 6,
      ready: () => readyWithMasters(3, 200_000),
    }));
    const client = clusterClient(ready);
    try {
      await loadKeys(client, KEYS, VALUE_BYTES, 'alerts');
    } finally {
      client.disconnect();
    }
  }, 300_000);

  it('the webhook refuses a request without the token', async () => {
    const res = await fetch(webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(low) });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  }, 60_000);

  it('HighMemoryUsage with scale_count 2 grows the masters by 2; sending it again changes nothing', async () => {
    const high = alertPayload('HighMemoryUsage', 'f00dfeed00000001', new Date().toISOString(), { scale_count: '2' });
    expect(await send(high)).toBe(200);
    await eventually('spec.masters to become 5', async () => (await mastersOf()) === 5, 60_000, 500);
    const generation = (await e2e.getCluster(NS, NAME))!.metadata!.generation;
    ready = await readyWithMasters(5);
    expect(await eventReasons()).toContain('Autoscaled');

    expect(await send(high)).toBe(200);
    await new Promise((r) => setTimeout(r, 5000));
    const after = (await e2e.getCluster(NS, NAME))!;
    expect((after.spec as { masters: number }).masters).toBe(5);
    expect(after.metadata!.generation).toBe(generation);
  }, 400_000);

  it('LowMemoryUsage inside the cooldown changes nothing', async () => {
    const cr = (await e2e.getCluster(NS, NAME))!;
    const last = Date.parse((cr.status as { lastScaleTime: string }).lastScaleTime);
    expect(Date.now()).toBeLessThan(last + COOLDOWN_S * 1000);
    expect(await send(low)).toBe(200);
    await eventually('the cooldown Event', async () => (await eventReasons()).includes('AutoscaleCooldown'), 30_000, 500);
    expect(await mastersOf()).toBe(5);
  }, 60_000);

  it('after the cooldown, an alert at the upper bound changes nothing and LowMemoryUsage removes one master', async () => {
    const patched = await e2e.kubectl([
      'patch',
      'rediscluster',
      NAME,
      '-n',
      NS,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { autoscaling: { cooldownSeconds: SHORT_COOLDOWN_S } } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    // The scale function defers alerts while a spec change is not yet acted on.
    const cr = await waitForReady(e2e, NS, NAME, 120_000, 5);
    expect((cr.spec as { autoscaling: { cooldownSeconds: number } }).autoscaling.cooldownSeconds).toBe(SHORT_COOLDOWN_S);
    const last = Date.parse((cr.status as { lastScaleTime: string }).lastScaleTime);
    await new Promise((r) => setTimeout(r, Math.max(0, last + SHORT_COOLDOWN_S * 1000 + 1000 - Date.now())));

    expect(await send(alertPayload('HighThroughput', 'f00dfeed00000003', new Date().toISOString()))).toBe(200);
    await eventually('the at-bound Event', async () => (await eventReasons()).includes('AutoscaleAtBound'), 30_000, 500);
    expect(await mastersOf()).toBe(5);

    // Alertmanager's re-send of the LowMemoryUsage alert: ignored then, so it applies now.
    expect(await send(low)).toBe(200);
    await eventually('spec.masters to become 4', async () => (await mastersOf()) === 4, 60_000, 500);
    ready = await readyWithMasters(4);
    const client = clusterClient(ready);
    try {
      expect(await verifyKeys(client, KEYS, VALUE_BYTES, 'alerts')).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      client.disconnect();
    }
  }, 400_000);
});
