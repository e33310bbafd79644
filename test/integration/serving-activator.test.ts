// Serving against the local API server, scheduler and kubelet, with real function Pods: a revision
// Pod (user container behind the queue-proxy) on the first request (cold start measured), deleted
// when idle (process gone), min-scale, containerConcurrency, timeoutSeconds, SinkBinding's K_SINK
// and a Trigger delivering to a Service.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../local/apiserver/index.js';
import { startEventing, type Eventing } from '../../local/eventing/index.js';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { startServing, type Serving } from '../../local/serving/index.js';
import { FunctionImages } from '../../local/serving/images.js';
import { startKubelet, type Kubelet } from '../../local/kubelet/index.js';
import { defaultNodes, startScheduler, type Scheduler } from '../../local/scheduler/index.js';
import { alive, waitFor } from '../fixtures/knative/harness.js';

const NS = 'srv';
const IDLE_MS = 1500;
let api: { url: string; close(): Promise<void> };
let eventing: Eventing;
let serving: Serving;
let scheduler: Scheduler;
let kubelet: Kubelet;
let kube: KubeRest;
let stateDir: string;

function service(
  name: string,
  opts: {
    cc?: number;
    timeoutSeconds?: number;
    minScale?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  } = {},
): KubeObject {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name, namespace: NS, labels: opts.labels },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/min-scale': opts.minScale ?? '0', ...(opts.annotations ?? {}) } },
        spec: {
          containerConcurrency: opts.cc ?? 0,
          timeoutSeconds: opts.timeoutSeconds ?? 30,
          containers: [{ image: 'example.com/redis-operator-echo:0.1.0', env: [{ name: 'GREETING', value: 'hello' }] }],
        },
      },
    },
  };
}

async function readyService(name: string): Promise<KubeObject> {
  return waitFor(async () => {
    const o = await kube.get('serving.knative.dev/v1', 'Service', name, NS);
    return o?.status?.conditions?.find((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? o : undefined;
  }, `Service ${name} Ready`);
}

async function getJson(url: string): Promise<{ status: number; body: any; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(url);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text answer
  }
  return { status: res.status, body, ms: Date.now() - t0 };
}

/** GET with a Host header of our choosing (fetch does not let a caller set Host). */
function getWithHost(url: string, host: string): Promise<any> {
  return new Promise((res, rej) => {
    request(url, { headers: { host } }, (r) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => res(JSON.parse(text)));
    })
      .on('error', rej)
      .end();
  });
}

/** GET sent to a proxy: the request target is the absolute URL, as HTTP clients send to a proxy. */
function getViaProxy(proxyUrl: string, target: string): Promise<any> {
  const proxy = new URL(proxyUrl);
  return new Promise((res, rej) => {
    request({ host: proxy.hostname, port: proxy.port, path: target, headers: { host: new URL(target).host } }, (r) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => res(JSON.parse(text)));
    })
      .on('error', rej)
      .end();
  });
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'serving-test-'));
  api = await startApiServer({ port: 0 });
  kube = new KubeRest(api.url);
  await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  eventing = await startEventing({ apiUrl: api.url, port: 0 });
  const images = new FunctionImages({ functionRoots: [resolve(import.meta.dirname, '../fixtures/knative/functions')] });
  const nodes = defaultNodes(1);
  scheduler = await startScheduler({ apiUrl: api.url, nodes });
  kubelet = await startKubelet({ apiUrl: api.url, nodes, images, dataDir: join(stateDir, 'pods') });
  serving = await startServing({
    apiUrl: api.url,
    port: 0,
    images,
    idleWindowMs: IDLE_MS,
    envFor: (svc) =>
      eventing.sinkBindingEnv({
        apiVersion: svc.apiVersion!,
        kind: svc.kind!,
        name: svc.metadata!.name!,
        namespace: svc.metadata!.namespace!,
        labels: svc.metadata?.labels,
      }),
  });
});

afterAll(async () => {
  await serving?.stop();
  await eventing?.stop();
  await kubelet?.stop();
  await scheduler?.stop();
  await api?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('serving', () => {
  it('starts a revision Pod on the first request and deletes it when idle', async () => {
    await kube.apply(service('echo'));
    const svc = await readyService('echo');
    expect(svc.status.url).toBe(`${serving.url}/${NS}/echo`);
    expect(svc.status.address.url).toBe(svc.status.url);
    expect(serving.process(NS, 'echo')).toBeUndefined();

    const cold = await getJson(`${svc.status.url}/env`);
    expect(cold.status).toBe(200);
    const info = serving.process(NS, 'echo')!;
    expect(info.pid).toBe(cold.body.pid);
    expect(alive(info.pid)).toBe(true);
    console.log(`cold start: first request ${cold.ms} ms (process ready after ${info.coldStartMs} ms)`);
    expect(cold.body).toMatchObject({
      path: '/env',
      K_SERVICE: 'echo',
      K_CONFIGURATION: 'echo',
      K_REVISION: 'echo-00001',
      GREETING: 'hello',
      PORT: '8080',
    });
    expect(info.port).toBe(8012);
    expect(readFileSync(cold.body.KUBECONFIG, 'utf8')).toContain(api.url);
    // The Pod Knative's Deployment would make: labelled for the revision, the queue-proxy beside
    // the user container, both running.
    const pod = await kube.get('v1', 'Pod', info.pod, NS);
    expect(pod?.metadata?.labels).toMatchObject({
      'serving.knative.dev/service': 'echo',
      'serving.knative.dev/revision': 'echo-00001',
    });
    expect((pod?.metadata?.ownerReferences as unknown[] | undefined)?.[0]).toMatchObject({
      kind: 'Service',
      name: 'echo',
      controller: true,
    });
    expect(pod?.status?.podIP).toBe(info.podIP);
    expect(pod?.status?.containerStatuses?.map((c: { name: string }) => c.name).sort()).toEqual(['queue-proxy', 'user-container']);
    const user = pod?.status?.containerStatuses?.find((c: { name: string }) => c.name === 'user-container');
    expect(user?.containerID).toBe(`local://${info.pid}`);
    // The queue-proxy takes the Pod's traffic on 8012, as a plain Service in front of the Pods would reach it.
    expect((await getJson(`http://${info.podIP}:8012/env`)).body.pid).toBe(info.pid);

    const warm = await getJson(`${svc.status.url}/env`);
    expect(warm.body.pid).toBe(info.pid);
    expect(warm.ms).toBeLessThan(cold.ms);
    // The Service's cluster-local URL, routed by Host as Knative's ingress does.
    const byHost = await getWithHost(`${serving.url}/env`, `echo.${NS}.svc.cluster.local`);
    expect(byHost.pid, JSON.stringify(byHost)).toBe(info.pid);
    // The same URL through the activator as an HTTP proxy: the absolute form names the Service.
    const viaProxy = await getViaProxy(serving.url, `http://echo.${NS}.svc.cluster.local/env?x=1`);
    expect(viaProxy.pid, JSON.stringify(viaProxy)).toBe(info.pid);
    expect(viaProxy.path).toBe('/env');
    expect((await getJson(`${serving.url}/${NS}/nowhere/env`)).status).toBe(404);

    await waitFor(() => !alive(info.pid) && serving.process(NS, 'echo') === undefined, 'the idle process to stop', IDLE_MS + 5000);
    await waitFor(async () => (await kube.get('v1', 'Pod', info.pod, NS)) === undefined, 'the idle Pod to be deleted');
    const again = await getJson(`${svc.status.url}/env`);
    expect(again.status).toBe(200);
    expect(again.body.pid).not.toBe(info.pid);
  });

  it('keeps a min-scale 1 Service up without requests', async () => {
    await kube.apply(service('warm', { minScale: '1' }));
    await readyService('warm');
    const info = await waitFor(() => serving.process(NS, 'warm'), 'the min-scale process');
    await new Promise((r) => setTimeout(r, IDLE_MS + 500));
    expect(alive(info.pid)).toBe(true);
    expect(serving.process(NS, 'warm')?.pid).toBe(info.pid);
  });

  it('honours containerConcurrency (requests queue) and timeoutSeconds (504)', async () => {
    await kube.apply(service('serial', { cc: 1, timeoutSeconds: 1 }));
    const svc = await readyService('serial');
    await getJson(`${svc.status.url}/healthz`);
    const t0 = Date.now();
    const answers = await Promise.all([1, 2, 3].map(() => getJson(`${svc.status.url}/slow?ms=300`)));
    const elapsed = Date.now() - t0;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(Math.max(...answers.map((a) => a.body.maxInflight))).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(880);

    const slow = await getJson(`${svc.status.url}/slow?ms=2500`);
    expect(slow.status).toBe(504);
    expect(slow.ms).toBeGreaterThanOrEqual(950);
    expect(slow.ms).toBeLessThan(2400);
  });

  it('gives the process K_SINK from a SinkBinding, and a Trigger delivers to the Service', async () => {
    await kube.apply({ apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', metadata: { name: 'default', namespace: NS }, spec: {} });
    await kube.apply({
      apiVersion: 'sources.knative.dev/v1',
      kind: 'SinkBinding',
      metadata: { name: 'functions-sink', namespace: NS },
      spec: {
        subject: {
          apiVersion: 'serving.knative.dev/v1',
          kind: 'Service',
          selector: { matchLabels: { 'app.kubernetes.io/part-of': 'test' } },
        },
        sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } },
        ceOverrides: { extensions: { origin: 'bound' } },
      },
    });
    await kube.apply(service('bound', { labels: { 'app.kubernetes.io/part-of': 'test' } }));
    await kube.apply({
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: { name: 'to-bound', namespace: NS },
      spec: {
        broker: 'default',
        filters: [{ exact: { type: 'test.hello' } }],
        subscriber: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'bound' } },
      },
    });
    const svc = await readyService('bound');
    const brokerUrl = eventing.brokerUrl(NS, 'default');
    await waitFor(
      async () => (await kube.get('eventing.knative.dev/v1', 'Broker', 'default', NS))?.status?.address?.url === brokerUrl,
      'the Broker address',
    );
    const env = await getJson(`${svc.status.url}/env`);
    expect(env.body.K_SINK).toBe(brokerUrl);
    expect(JSON.parse(env.body.K_CE_OVERRIDES)).toEqual({ extensions: { origin: 'bound' } });
    const other = await getJson(`${serving.url}/${NS}/echo/env`);
    expect(other.body.K_SINK).toBeUndefined();

    const res = await fetch(brokerUrl, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'hello-1',
        'ce-source': '/test',
        'ce-type': 'test.hello',
        'content-type': 'application/json',
      },
      body: '{"hi":true}',
    });
    expect(res.status).toBe(202);
    const events = await waitFor(async () => {
      const e = (await getJson(`${svc.status.url}/events`)).body as { id: string; body: string }[];
      return e.length > 0 ? e : undefined;
    }, 'the event to reach the Service');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: 'hello-1', body: '{"hi":true}' });
  });
});
