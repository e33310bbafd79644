// The scale function over real HTTP against the embedded API server and the project's CRD, fed
// the events the alert-bridge makes of Alertmanager's notifications of one still-firing alert:
// one step per notification after the cooldown up to maxMasters; a redelivered event, and one event
// given to two instances at once, step at most once; Events say why not.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudEventV1 } from 'cloudevents';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertEvents, parseWebhook } from '../../functions/alert-bridge/bridge.js';
import { createScaleHandlers } from '../../functions/scale/handler.js';
import { REPO_ROOT } from '../../local/platform.js';
import type { RedisCluster } from '../../shared/api/index.js';
import { Kube } from '../../shared/kube/index.js';
import { createFunctionHost, type ListeningHost } from '../../shared/runtime/index.js';
import { postBinary } from '../helpers/http.js';
import { Kubectl, startTestApi, waitFor, type TestApi } from '../helpers/platform-api.js';

const REF = { namespace: 'default', name: 'hot' };
const T0 = Date.parse('2026-11-24T12:00:00Z');
const COOLDOWN_S = 300;

let api: TestApi;
let kube: Kube;
let kubectl: Kubectl;
/** Two instances of the function, as Knative runs them under load; they share the clock. */
const instances: ListeningHost[] = [];
let clock = T0;

/** The event the alert-bridge makes of Alertmanager's notification of HighThroughput, received at `atS`. */
function notification(atS: number): CloudEventV1<unknown> {
  const parsed = parseWebhook({
    version: '4',
    status: 'firing',
    receiver: 'redis-operator',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'HighThroughput', namespace: REF.namespace, redis_cluster: REF.name, severity: 'warning' },
        annotations: { scale_count: '1' },
        startsAt: '2026-11-24T11:55:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: '3f6c1d2e4b5a6978',
      },
    ],
  });
  if (!parsed.ok) throw new Error(parsed.message);
  return alertEvents(parsed.payload, '/redis-operator/alert-bridge', new Date(T0 + atS * 1000)).events[0]!;
}

async function deliver(event: CloudEventV1<unknown>, to: ListeningHost[] = [instances[0]!]): Promise<void> {
  const answers = await Promise.all(to.map((host) => postBinary(`${host.url}/`, event)));
  for (const a of answers) expect(a.status, a.text).toBe(202);
}

const current = async () => (await kube.getCluster<RedisCluster>(REF))!;

/** What reconcile reports once the new spec is acted on: the cluster Ready at its generation. */
async function reconciled(): Promise<void> {
  await kube.patchClusterStatus(REF, { phase: 'Ready', observedGeneration: (await current()).metadata.generation });
}

async function reasons(): Promise<string[]> {
  const out = await kubectl.ok(['get', 'events', '-n', REF.namespace, '-o', 'json']);
  const items = (JSON.parse(out) as { items: { reason: string; involvedObject: { name: string } }[] }).items;
  return items.filter((e) => e.involvedObject.name === REF.name).map((e) => e.reason);
}

beforeAll(async () => {
  api = await startTestApi();
  kube = new Kube(api.kc);
  kubectl = new Kubectl(api.url);
  await kube.apply(parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8')));
  await waitFor('the CRD to be served', () =>
    kube.listClusters('default').then(
      () => true,
      () => undefined,
    ),
  );
  await kube.apply({
    apiVersion: 'redis.redis/v1beta1',
    kind: 'RedisCluster',
    metadata: REF,
    spec: {
      image: 'redis:7',
      maxMemory: '64mb',
      masters: 3,
      replicas: 0,
      autoscaling: { enabled: true, minMasters: 3, maxMasters: 6, cooldownSeconds: COOLDOWN_S },
    },
  } as never);
  await reconciled();
  for (let i = 0; i < 2; i++) {
    const handlers = createScaleHandlers({ kube, now: () => new Date(clock) });
    instances.push(await createFunctionHost({ name: 'scale', handlers, config: { LOG_LEVEL: 'silent' } }).listen(0, '127.0.0.1'));
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(instances.map((h) => h.close()));
  kubectl?.cleanup();
  await api?.close();
});

describe('scale: a still-firing alert, notification by notification', () => {
  const first = notification(0);

  it('the first notification adds a master', async () => {
    await deliver(first);
    const cr = await current();
    expect(cr.spec.masters).toBe(4);
    expect(cr.status?.lastScaleTime).toBe('2026-11-24T12:00:00Z');
    expect(await reasons()).toContain('Autoscaled');
    await reconciled();
  });

  it('its redelivery, to one instance or to two at once, changes nothing, even after the cooldown', async () => {
    const generation = (await current()).metadata.generation;
    clock = T0 + 10_000;
    await deliver(first, instances);
    clock = T0 + (COOLDOWN_S + 60) * 1000;
    await deliver(first);
    const cr = await current();
    expect(cr.spec.masters).toBe(4);
    expect(cr.metadata.generation).toBe(generation);
  });

  it("Alertmanager's re-send inside the cooldown changes nothing and says so", async () => {
    clock = T0 + 120_000;
    await deliver(notification(120));
    expect((await current()).spec.masters).toBe(4);
    expect(await reasons()).toContain('AutoscaleCooldown');
  });

  it('a re-send after the cooldown is one more step, once, though two instances get it', async () => {
    clock = T0 + 310_000;
    await deliver(notification(310), instances);
    const cr = await current();
    expect(cr.spec.masters).toBe(5);
    expect(cr.status?.lastScaleTime).toBe('2026-11-24T12:05:10Z');
    await reconciled();
  });

  it('the re-sends go on stepping until maxMasters, then change nothing with the reason', async () => {
    clock = T0 + 620_000;
    await deliver(notification(620));
    expect((await current()).spec.masters).toBe(6);
    await reconciled();
    clock = T0 + 930_000;
    await deliver(notification(930));
    expect((await current()).spec.masters).toBe(6);
    expect(await reasons()).toContain('AutoscaleAtBound');
  });

  it('an alert while the cluster heals is handed back for a redelivery, which then steps', async () => {
    await kube.patchCluster(REF, { spec: { autoscaling: { maxMasters: 7 } } });
    await reconciled();
    await kube.patchClusterStatus(REF, { phase: 'Healing' });
    clock = T0 + 1_300_000;
    const alert = notification(1300);
    const deferred = await postBinary(`${instances[0]!.url}/`, alert);
    expect(deferred.status, deferred.text).toBe(503);
    expect((await current()).spec.masters).toBe(6);
    expect(await reasons()).toContain('AutoscaleDeferred');
    await reconciled();
    await deliver(alert);
    expect((await current()).spec.masters).toBe(7);
  });
});
