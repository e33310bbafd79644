// The Broker keeps delivering while the API server is down, as Knative's does: its dispatcher sends
// to the addresses in each Trigger's status (`subscriberUri`, `deadLetterSinkUri`), resolved by the
// Trigger's reconciler beforehand, and never asks the API server per event. Destinations here are
// `ref`s to Brokers, so resolving one at dispatch time would need the API server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../local/apiserver/index.js';
import { startEventing, type Eventing } from '../../local/eventing/index.js';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { recorder, waitFor, type Recorder } from '../fixtures/knative/harness.js';

const NS = 'down';
const EVENTING = 'eventing.knative.dev/v1';
let dir: string;
let api: ApiServer;
let port: number;
let eventing: Eventing;
let kube: KubeRest;
let sink: Recorder;
let failing: Recorder;

const broker = (name: string): KubeObject => ({ apiVersion: EVENTING, kind: 'Broker', metadata: { name, namespace: NS }, spec: {} });
const trigger = (name: string, brokerName: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: EVENTING,
  kind: 'Trigger',
  metadata: { name, namespace: NS },
  spec: { broker: brokerName, ...spec },
});
const brokerRef = (name: string) => ({ ref: { apiVersion: EVENTING, kind: 'Broker', name } });

function post(url: string, type: string, id: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/test', 'ce-type': type, 'content-type': 'application/json' },
    body: '{}',
  });
}

async function readyTrigger(name: string): Promise<KubeObject> {
  return waitFor(async () => {
    const t = await kube.get(EVENTING, 'Trigger', name, NS);
    return t?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? t : undefined;
  }, `Trigger ${name} Ready`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eventing-down-'));
  api = await startApiServer({ port: 0, stateFile: join(dir, 'state.json'), authorizationMode: 'AlwaysAllow' });
  port = api.port;
  kube = new KubeRest(api.url);
  await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  eventing = await startEventing({ apiUrl: api.url, port: 0 });
  sink = await recorder();
  failing = await recorder(() => ({ status: 500, body: 'boom' }));
});

afterAll(async () => {
  await eventing?.stop();
  await Promise.all([sink?.close(), failing?.close()]);
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('delivers to a ref subscriber and dead-letters to a ref sink with the API server down', async () => {
  await kube.apply(broker('front'));
  await kube.apply(broker('back'));
  await kube.apply(trigger('relay', 'front', { filters: [{ exact: { type: 'test.relay' } }], subscriber: brokerRef('back') }));
  await kube.apply(
    trigger('doomed', 'front', {
      filters: [{ exact: { type: 'test.doomed' } }],
      subscriber: { uri: failing.url },
      delivery: { retry: 0, deadLetterSink: brokerRef('back') },
    }),
  );
  await kube.apply(trigger('record', 'back', { subscriber: { uri: sink.url } }));
  const back = `${eventing.url}/${NS}/back`;
  expect((await readyTrigger('relay')).status.subscriberUri).toBe(back);
  expect((await readyTrigger('doomed')).status.deadLetterSinkUri).toBe(back);
  await readyTrigger('record');

  await api.close();
  try {
    expect((await post(`${eventing.url}/${NS}/front`, 'test.relay', 'relayed')).status).toBe(202);
    expect((await post(`${eventing.url}/${NS}/front`, 'test.doomed', 'doomed')).status).toBe(202);
    await waitFor(() => sink.received.length >= 2, 'both events at the back Broker', 5000);
  } finally {
    api = await startApiServer({ port, stateFile: join(dir, 'state.json'), authorizationMode: 'AlwaysAllow' });
  }
  expect(sink.received.map((r) => r.headers['ce-id']).sort()).toEqual(['doomed', 'relayed']);
  expect(failing.received).toHaveLength(1);
});
