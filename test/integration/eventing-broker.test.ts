// Eventing against the local API server over real HTTP: Broker ingress, Trigger filtering,
// ApiServerSource (Reference and Resource modes), retries with back-off and dead letters,
// replies re-enqueued with the TTL decremented, and PingSource at the local interval.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../local/apiserver/index.js';
import { startEventing, type Eventing } from '../../local/eventing/index.js';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { recorder, waitFor, type Recorder } from '../fixtures/knative/harness.js';

const NS = 'evt';
const WATCHER = 'evt-watcher';
let api: { url: string; close(): Promise<void> };
let eventing: Eventing;
let kube: KubeRest;
const recorders: Recorder[] = [];

async function rec(...args: Parameters<typeof recorder>): Promise<Recorder> {
  const r = await recorder(...args);
  recorders.push(r);
  return r;
}

const broker = (name: string, delivery?: unknown): KubeObject => ({
  apiVersion: 'eventing.knative.dev/v1',
  kind: 'Broker',
  metadata: { name, namespace: NS },
  spec: delivery ? { delivery } : {},
});

const trigger = (name: string, brokerName: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'eventing.knative.dev/v1',
  kind: 'Trigger',
  metadata: { name, namespace: NS },
  spec: { broker: brokerName, ...spec },
});

async function ready(apiVersion: string, kind: string, name: string): Promise<KubeObject> {
  return waitFor(async () => {
    const o = await kube.get(apiVersion, kind, name, NS);
    return o?.status?.conditions?.find((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? o : undefined;
  }, `${kind} ${name} Ready`);
}

async function brokerUrl(name: string): Promise<string> {
  const b = await ready('eventing.knative.dev/v1', 'Broker', name);
  return b.status.address.url as string;
}

function postEvent(url: string, type: string, extra: Record<string, string> = {}, data: unknown = { n: 1 }): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': `id-${Math.random()}`,
      'ce-source': '/test',
      'ce-type': type,
      'content-type': 'application/json',
      ...extra,
    },
    body: JSON.stringify(data),
  });
}

beforeAll(async () => {
  api = await startApiServer({ port: 0 });
  kube = new KubeRest(api.url);
  await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  // The ApiServerSources' adapter lists and watches as their ServiceAccount, as Knative's does.
  await kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: WATCHER, namespace: NS } });
  const rbac = 'rbac.authorization.k8s.io/v1';
  const rules = [{ apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['get', 'list', 'watch'] }];
  await kube.apply({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: WATCHER }, rules });
  await kube.apply({
    apiVersion: rbac,
    kind: 'ClusterRoleBinding',
    metadata: { name: WATCHER },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: WATCHER },
    subjects: [{ kind: 'ServiceAccount', name: WATCHER, namespace: NS }],
  });
  eventing = await startEventing({ apiUrl: api.url, port: 0, pingIntervalMs: 300 });
});

afterAll(async () => {
  await eventing?.stop();
  await Promise.all(recorders.map((r) => r.close()));
  await api?.close();
});

describe('Broker ingress', () => {
  it('accepts binary and structured CloudEvents, refuses others, adds knativebrokerttl', async () => {
    const sub = await rec();
    await kube.apply(broker('ingress'));
    await kube.apply(trigger('ingress-all', 'ingress', { subscriber: { uri: sub.url } }));
    const url = await brokerUrl('ingress');
    expect(url).toBe(`${eventing.url}/${NS}/ingress`);
    await ready('eventing.knative.dev/v1', 'Trigger', 'ingress-all');

    expect((await postEvent(url, 'test.binary')).status).toBe(202);
    const structured = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 's1', source: '/test', type: 'test.structured', data: { a: 1 } }),
    });
    expect(structured.status).toBe(202);
    const plain = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(plain.status).toBe(400);
    expect((await postEvent(`${eventing.url}/${NS}/nope`, 'test.binary')).status).toBe(404);

    await waitFor(() => sub.received.length >= 2, 'two deliveries');
    await sleep(200);
    expect(sub.received.map((r) => r.headers['ce-type']).sort()).toEqual(['test.binary', 'test.structured']);
    for (const r of sub.received) {
      expect(r.headers['ce-knativebrokerttl']).toBe('255');
      expect(r.headers.prefer).toBe('reply');
    }
    const s = sub.ofType('test.structured')[0]!;
    expect(s.headers['ce-id']).toBe('s1');
    expect(JSON.parse(s.body)).toEqual({ a: 1 });
  });
});

describe('ApiServerSource', () => {
  it('Reference mode: add, update and delete each reach only the matching Trigger; nothing for objects that existed before', async () => {
    const [onAdd, onUpdate, onDelete, onSecret] = await Promise.all([rec(), rec(), rec(), rec()]);
    await kube.apply(broker('api'));
    const kindIs = (kind: string) => ({ exact: { kind } });
    await kube.apply(
      trigger('api-add', 'api', {
        filters: [{ exact: { type: 'dev.knative.apiserver.ref.add' } }, kindIs('ConfigMap')],
        subscriber: { uri: onAdd.url },
      }),
    );
    await kube.apply(
      trigger('api-update', 'api', {
        filter: { attributes: { type: 'dev.knative.apiserver.ref.update', kind: 'ConfigMap' } },
        subscriber: { uri: onUpdate.url },
      }),
    );
    await kube.apply(
      trigger('api-delete', 'api', {
        filters: [{ suffix: { type: '.ref.delete' } }, kindIs('ConfigMap')],
        subscriber: { uri: onDelete.url },
      }),
    );
    await kube.apply(trigger('api-secret', 'api', { filters: [kindIs('Secret')], subscriber: { uri: onSecret.url } }));
    await brokerUrl('api');
    for (const t of ['api-add', 'api-update', 'api-delete', 'api-secret']) await ready('eventing.knative.dev/v1', 'Trigger', t);

    const labels = { 'test.local/watched': 'yes' };
    await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'before', namespace: NS, labels }, data: { k: 'v' } });
    await kube.apply({
      apiVersion: 'sources.knative.dev/v1',
      kind: 'ApiServerSource',
      metadata: { name: 'configmaps', namespace: NS },
      spec: {
        mode: 'Reference',
        serviceAccountName: WATCHER,
        resources: [{ apiVersion: 'v1', kind: 'ConfigMap', selector: { matchLabels: labels } }],
        sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'api' } },
      },
    });
    await ready('sources.knative.dev/v1', 'ApiServerSource', 'configmaps');

    await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm1', namespace: NS, labels }, data: { k: 'v1' } });
    await kube.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unlabelled', namespace: NS }, data: { k: 'v' } });
    await waitFor(() => onAdd.received.length >= 1, 'the add event');
    await kube.patch('v1', 'ConfigMap', 'cm1', NS, { data: { k: 'v2' } });
    await waitFor(() => onUpdate.received.length >= 1, 'the update event');
    await kube.delete('v1', 'ConfigMap', 'cm1', NS);
    await waitFor(() => onDelete.received.length >= 1, 'the delete event');
    await sleep(400);

    expect(onAdd.received).toHaveLength(1);
    expect(onUpdate.received).toHaveLength(1);
    expect(onDelete.received).toHaveLength(1);
    expect(onSecret.received).toHaveLength(0);
    const add = onAdd.received[0]!;
    expect(add.headers).toMatchObject({
      'ce-type': 'dev.knative.apiserver.ref.add',
      'ce-source': api.url,
      'ce-subject': `/apis/v1/namespaces/${NS}/configmaps/cm1`,
      'ce-kind': 'ConfigMap',
      'ce-apiversion': 'v1',
      'ce-name': 'cm1',
      'ce-namespace': NS,
      'content-type': 'application/json',
    });
    expect(JSON.parse(add.body)).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm1', namespace: NS });
    expect(onUpdate.received[0]!.headers['ce-type']).toBe('dev.knative.apiserver.ref.update');
    expect(onDelete.received[0]!.headers['ce-type']).toBe('dev.knative.apiserver.ref.delete');
    const ids = [onAdd, onUpdate, onDelete].map((r) => r.received[0]!.headers['ce-id']);
    expect(new Set(ids).size).toBe(3);
  });

  it('Resource mode carries the whole object; namespaceSelector {} watches every namespace', async () => {
    const sub = await rec();
    await kube.apply(broker('res'));
    await kube.apply(
      trigger('res-add', 'res', { filters: [{ exact: { type: 'dev.knative.apiserver.resource.add' } }], subscriber: { uri: sub.url } }),
    );
    await brokerUrl('res');
    await ready('eventing.knative.dev/v1', 'Trigger', 'res-add');
    await kube.apply({
      apiVersion: 'sources.knative.dev/v1',
      kind: 'ApiServerSource',
      metadata: { name: 'secrets', namespace: NS },
      spec: {
        mode: 'Resource',
        serviceAccountName: WATCHER,
        namespaceSelector: {},
        resources: [{ apiVersion: 'v1', kind: 'Secret' }],
        sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'res' } },
      },
    });
    await ready('sources.knative.dev/v1', 'ApiServerSource', 'secrets');
    await kube.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's1', namespace: 'cache' },
      data: { password: Buffer.from('pw').toString('base64') },
    });
    await waitFor(() => sub.received.length >= 1, 'the resource add event');
    const got = sub.received[0]!;
    expect(got.headers['ce-kind']).toBe('Secret');
    expect(got.headers['ce-namespace']).toBe('cache');
    expect(got.headers['ce-subject']).toBe('/apis/v1/namespaces/cache/secrets/s1');
    const obj = JSON.parse(got.body);
    expect(obj.metadata.name).toBe('s1');
    expect(obj.metadata.uid).toBeTruthy();
    expect(Buffer.from(obj.data.password, 'base64').toString()).toBe('pw');
  });
});

describe('delivery', () => {
  it('retries a 500 with linear back-off, then dead-letters it; a 400 is not retried', async () => {
    const failing = await rec(() => ({ status: 500, body: 'boom' }));
    const poison = await rec(() => ({ status: 400, body: 'bad' }));
    const dls = await rec();
    await kube.apply(broker('retry', { deadLetterSink: { uri: dls.url } }));
    const delivery = { retry: 3, backoffPolicy: 'linear', backoffDelay: 'PT0.2S' };
    await kube.apply(
      trigger('retry-500', 'retry', { filters: [{ exact: { type: 'test.fail500' } }], subscriber: { uri: failing.url }, delivery }),
    );
    await kube.apply(
      trigger('retry-400', 'retry', { filters: [{ exact: { type: 'test.fail400' } }], subscriber: { uri: poison.url }, delivery }),
    );
    const url = await brokerUrl('retry');
    await ready('eventing.knative.dev/v1', 'Trigger', 'retry-500');
    await ready('eventing.knative.dev/v1', 'Trigger', 'retry-400');

    expect((await postEvent(url, 'test.fail500', { 'ce-id': 'e500' })).status).toBe(202);
    expect((await postEvent(url, 'test.fail400', { 'ce-id': 'e400' })).status).toBe(202);
    await waitFor(() => dls.received.length >= 2, 'two dead letters', 15_000);
    await sleep(300);

    expect(failing.received).toHaveLength(4);
    const gaps = failing.received.slice(1).map((r, i) => r.at - failing.received[i]!.at);
    [200, 400, 600].forEach((expected, i) => {
      expect(gaps[i]!).toBeGreaterThanOrEqual(expected - 20);
      expect(gaps[i]!).toBeLessThan(expected + 600);
    });
    expect(poison.received).toHaveLength(1);

    const dl500 = dls.received.find((r) => r.headers['ce-id'] === 'e500')!;
    expect(dl500.headers['ce-knativeerrorcode']).toBe('500');
    expect(dl500.headers['ce-knativeerrordest']).toBe(failing.url);
    expect(Buffer.from(String(dl500.headers['ce-knativeerrordata']), 'base64').toString()).toBe('boom');
    expect(dl500.at).toBeGreaterThanOrEqual(failing.received[3]!.at);
    const dl400 = dls.received.find((r) => r.headers['ce-id'] === 'e400')!;
    expect(dl400.headers['ce-knativeerrorcode']).toBe('400');
  });

  it('a reply is re-enqueued with the TTL decremented; a non-CloudEvent body is a failure', async () => {
    const asker = await rec(() => ({
      status: 200,
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'reply-1',
        'ce-source': '/asker',
        'ce-type': 'test.answer',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ answer: 42 }),
    }));
    const answered = await rec();
    const garbage = await rec(() => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'not an event' }));
    const dls = await rec();
    await kube.apply(broker('reply'));
    await kube.apply(trigger('reply-a', 'reply', { filters: [{ exact: { type: 'test.ask' } }], subscriber: { uri: asker.url } }));
    await kube.apply(trigger('reply-b', 'reply', { filters: [{ exact: { type: 'test.answer' } }], subscriber: { uri: answered.url } }));
    await kube.apply(
      trigger('reply-garbage', 'reply', {
        filters: [{ exact: { type: 'test.garbage' } }],
        subscriber: { uri: garbage.url },
        delivery: { retry: 1, backoffDelay: 'PT0.05S', deadLetterSink: { uri: dls.url } },
      }),
    );
    const url = await brokerUrl('reply');
    for (const t of ['reply-a', 'reply-b', 'reply-garbage']) await ready('eventing.knative.dev/v1', 'Trigger', t);

    await postEvent(url, 'test.ask');
    await waitFor(() => answered.received.length >= 1, 'the reply to reach B');
    expect(asker.received[0]!.headers['ce-knativebrokerttl']).toBe('255');
    const b = answered.received[0]!;
    expect(b.headers['ce-id']).toBe('reply-1');
    expect(b.headers['ce-knativebrokerttl']).toBe('254');
    expect(JSON.parse(b.body)).toEqual({ answer: 42 });

    await postEvent(url, 'test.garbage');
    await waitFor(() => dls.received.length >= 1, 'the garbage answer dead-lettered');
    expect(garbage.received).toHaveLength(2);
    expect(dls.received[0]!.headers['ce-knativeerrorcode']).toBe('502');
    await sleep(200);
    expect(answered.received).toHaveLength(1);
  });
});

describe('PingSource', () => {
  it('fires at the local interval with the configured data; a bad schedule is reported', async () => {
    const sub = await rec();
    await kube.apply(broker('ping'));
    await kube.apply(
      trigger('ping-all', 'ping', { filters: [{ exact: { type: 'dev.knative.sources.ping' } }], subscriber: { uri: sub.url } }),
    );
    await brokerUrl('ping');
    await ready('eventing.knative.dev/v1', 'Trigger', 'ping-all');
    await kube.apply({
      apiVersion: 'sources.knative.dev/v1',
      kind: 'PingSource',
      metadata: { name: 'resync', namespace: NS },
      spec: {
        schedule: '* * * * *',
        contentType: 'application/json',
        data: '{"reason":"resync"}',
        sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'ping' } },
      },
    });
    await waitFor(() => sub.received.length >= 4, 'four pings', 5000);
    const gaps = sub.received.slice(1, 4).map((r, i) => r.at - sub.received[i]!.at);
    for (const g of gaps) {
      expect(g).toBeGreaterThan(200);
      expect(g).toBeLessThan(1000);
    }
    const p = sub.received[0]!;
    expect(p.headers['ce-source']).toBe(`/apis/v1/namespaces/${NS}/pingsources/resync`);
    expect(JSON.parse(p.body)).toEqual({ reason: 'resync' });
    const src = await ready('sources.knative.dev/v1', 'PingSource', 'resync');
    expect(src.status.sinkUri).toBe(`${eventing.url}/${NS}/ping`);
    await kube.delete('sources.knative.dev/v1', 'PingSource', 'resync', NS);

    await kube.apply({
      apiVersion: 'sources.knative.dev/v1',
      kind: 'PingSource',
      metadata: { name: 'bad', namespace: NS },
      spec: { schedule: 'every minute', sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'ping' } } },
    });
    const bad = await waitFor(
      async () => (await kube.get('sources.knative.dev/v1', 'PingSource', 'bad', NS))?.status?.conditions?.[0],
      'the bad schedule reported',
    );
    expect(bad.status).toBe('False');
    expect(bad.message).toMatch(/spec\.schedule/);
  });
});
