// Discovery on the embedded platform, as a client reaches it: the front door routes /cluster/ to the
// discovery Knative Service, which starts on the first request and answers for a cluster the
// operator formed from `kubectl apply`. And the dead-letter Service as the Triggers' dead-letter
// sink: an event the subscriber refuses ends up in GET /dead-letters.
import { describe, expect, it } from 'vitest';
import { applyCluster, eventually, postEvent, statusNodes, useE2E } from '../helpers/e2e.js';

const NS = 'cache';
const NAME = 'rediscluster1';
const e2e = useE2E({ namespaces: [NS] });

const byAddress = (a: { ip: string; port: number }, b: { ip: string; port: number }) =>
  a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port;

describe('discovery through the front door', () => {
  it('answers the reference URL with the nodes of a cluster formed by the operator', async () => {
    const { ready } = await applyCluster(e2e);
    const nodes = statusNodes(ready);
    const expected = nodes.map((n) => ({ ip: n.ip, port: n.port })).sort(byAddress);
    expect(expected).toHaveLength(6);

    const front = `${e2e.platform.urls.serving}/redis-operator/discovery`;
    const started = Date.now();
    const response = await fetch(`${front}/cluster/nodes?clusterName=${NAME}`);
    const coldMs = Date.now() - started;
    const text = await response.text();
    expect(response.status, text).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-discovery-source')).toBe('live');
    expect(JSON.parse(text)).toEqual(expected);
    console.log(`first /cluster/nodes through the front door (discovery cold start included): ${coldMs} ms`);

    const masters = (await (await fetch(`${front}/cluster/nodes?clusterName=${NAME}&namespace=${NS}&role=master`)).json()) as unknown[];
    expect(masters).toEqual(
      nodes
        .filter((n) => n.role === 'master')
        .map((n) => ({ ip: n.ip, port: n.port }))
        .sort(byAddress),
    );

    const topology = (await (await fetch(`${front}/cluster/topology?clusterName=${NAME}`)).json()) as {
      source: string;
      health: { clusterState: string };
      masters: { pod?: string; slotCount: number; replicas: unknown[] }[];
    };
    expect(topology.source).toBe('live');
    expect(topology.health.clusterState).toBe('ok');
    expect(topology.masters.map((m) => m.replicas.length)).toEqual([1, 1, 1]);
    expect(topology.masters.reduce((n, m) => n + m.slotCount, 0)).toBe(16384);
    for (const m of topology.masters) expect(m.pod).toMatch(new RegExp(`^${NAME}-\\d+$`));

    const missing = await fetch(`${front}/cluster/nodes?clusterName=absent`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toBe('RedisCluster "absent" not found in any namespace');
  }, 240_000);

  it("an event the reconcile function refuses reaches the dead-letter function with Knative's error extensions", async () => {
    const broker = `${e2e.platform.urls.broker}/redis-operator/default`;
    const id = `dead-${Date.now()}`;
    // Matches the reconcile-rediscluster Trigger but carries no object reference: 400, not retried.
    const sent = await postEvent(broker, {
      type: 'dev.knative.apiserver.ref.update',
      source: 'https://kubernetes.default.svc',
      id,
      data: {},
      extensions: { kind: 'RedisCluster', apiversion: 'redis.redis/v1beta1', name: 'nothing', namespace: NS },
    });
    expect(sent.status).toBeLessThan(300);
    const letters = `${e2e.platform.urls.serving}/redis-operator/dead-letter/dead-letters`;
    const item = await eventually(
      'the dead letter listed',
      async () => {
        const r = await fetch(letters);
        if (r.status !== 200) return undefined;
        const body = (await r.json()) as {
          items: { id: string; type: string; error: { code?: number; destination?: string; data?: string } }[];
        };
        return body.items.find((i) => i.id === id);
      },
      90_000,
      500,
    );
    expect(item.type).toBe('dev.knative.apiserver.ref.update');
    expect(item.error.code).toBe(400);
    expect(item.error.destination).toMatch(/reconcile/);
    expect(item.error.data).toMatch(/invalid event/);
    const metrics = await (await fetch(`${e2e.platform.urls.serving}/redis-operator/dead-letter/metrics`)).text();
    expect(metrics).toMatch(/dead_letters_total\{type="dev\.knative\.apiserver\.ref\.update",code="400",function="dead-letter"\} [1-9]/);
  }, 120_000);
});
