// The dead-letter function over real HTTP: events of any type, Knative's error extensions, the
// last 100 kept, the metric.
import { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeadLetterHost, type DeadLetterFunction } from '../../functions/dead-letter/handler.js';
import type { ListeningHost } from '../../shared/runtime/index.js';
import { errorOf, postBinary, postRaw, postStructured } from '../helpers/http.js';

let listening: ListeningHost;
let deadLetters: DeadLetterFunction;

beforeAll(async () => {
  const made = createDeadLetterHost({ config: { PORT: 0, LOG_LEVEL: 'silent' }, maxDataBytes: 1024 });
  deadLetters = made.deadLetters;
  listening = await made.host.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await listening?.close();
});

async function letters(): Promise<{ total: number; kept: number; capacity: number; items: any[] }> {
  const r = await fetch(`${listening.url}/dead-letters`);
  expect(r.status).toBe(200);
  return (await r.json()) as never;
}

function failed(id: string, type: string, extra: Record<string, unknown> = {}): CloudEvent<unknown> {
  return new CloudEvent({
    id,
    source: '/redis-operator/reconcile',
    type,
    datacontenttype: 'application/json',
    data: { cluster: { namespace: 'cache', name: 'rc' } },
    knativeerrorcode: '500',
    knativeerrordest: 'http://reconcile.redis-operator.svc.cluster.local',
    knativeerrordata: Buffer.from('{"error":"reconcile failed: boom"}').toString('base64'),
    ...extra,
  });
}

describe('dead-letter', () => {
  it('takes a binary-mode event of a catalog type with Knative error extensions and shows them', async () => {
    const answer = await postBinary(`${listening.url}/`, failed('e-1', 'redis.redis.reshard.requested.v1', { knativebrokerttl: '254' }));
    expect(answer.status).toBe(202);
    expect(answer.text).toBe('');
    const list = await letters();
    const item = list.items.find((i) => i.id === 'e-1');
    expect(item).toMatchObject({
      type: 'redis.redis.reshard.requested.v1',
      source: '/redis-operator/reconcile',
      specversion: '1.0',
      error: { code: 500, destination: 'http://reconcile.redis-operator.svc.cluster.local', data: '{"error":"reconcile failed: boom"}' },
      extensions: { knativebrokerttl: '254' },
      data: { cluster: { namespace: 'cache', name: 'rc' } },
    });
    expect(Date.parse(item.receivedAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('takes any type, in structured mode too, and data that is not JSON', async () => {
    const structured = await postStructured(`${listening.url}/`, failed('e-2', 'dev.knative.apiserver.ref.update'));
    expect(structured.status).toBe(202);
    const text = await postRaw(
      `${listening.url}/`,
      {
        'ce-id': 'e-3',
        'ce-source': '/elsewhere',
        'ce-type': 'com.example.anything',
        'ce-specversion': '1.0',
        'ce-knativeerrorcode': '404',
        'content-type': 'text/plain',
      },
      'plain words',
    );
    expect(text.status).toBe(202);
    const { items } = await letters();
    expect(items.find((i) => i.id === 'e-2')).toMatchObject({ type: 'dev.knative.apiserver.ref.update', error: { code: 500 } });
    expect(items.find((i) => i.id === 'e-3')).toMatchObject({
      type: 'com.example.anything',
      data: 'plain words',
      datacontenttype: 'text/plain',
      error: { code: 404 },
    });
  });

  it('refuses what is not a CloudEvent, naming what is missing', async () => {
    const before = (await letters()).total;
    const noId = await postRaw(
      `${listening.url}/`,
      { 'ce-source': '/x', 'ce-type': 't.x', 'ce-specversion': '1.0', 'content-type': 'text/plain' },
      'x',
    );
    expect(noId.status).toBe(400);
    expect(errorOf(noId)).toContain('ce-id');
    const plain = await postRaw(`${listening.url}/`, { 'content-type': 'text/plain' }, 'hello');
    expect(plain.status).toBe(415);
    const broken = await postRaw(`${listening.url}/`, { 'content-type': 'application/cloudevents+json' }, '{"id":');
    expect(broken.status).toBe(400);
    expect((await letters()).total).toBe(before);
  });

  it('keeps large data as its first bytes only', async () => {
    const big = 'y'.repeat(5000);
    expect((await postBinary(`${listening.url}/`, failed('e-big', 't.big', { data: { big } }))).status).toBe(202);
    const item = (await letters()).items.find((i) => i.id === 'e-big');
    expect(item.data).toBeUndefined();
    expect(item.dataTruncated.bytes).toBe(JSON.stringify({ big }).length);
    expect(item.dataTruncated.head).toHaveLength(1024);
  });

  it('keeps the last 100, newest first, and counts all', async () => {
    const before = (await letters()).total;
    for (let i = 0; i < 105; i++) {
      const answer = await postBinary(`${listening.url}/`, failed(`bulk-${i}`, 'redis.redis.reshard.progressed.v1'));
      expect(answer.status).toBe(202);
    }
    const list = await letters();
    expect(list.total).toBe(before + 105);
    expect(list.kept).toBe(100);
    expect(list.capacity).toBe(100);
    expect(list.items).toHaveLength(100);
    expect(list.items[0].id).toBe('bulk-104');
    expect(list.items[99].id).toBe('bulk-5');
    expect(list.items.some((i) => i.id === 'bulk-4')).toBe(false);
    expect(deadLetters.store.total).toBe(list.total);
  });

  it('counts dead letters in /metrics by type and failed status', async () => {
    const text = await (await fetch(`${listening.url}/metrics`)).text();
    expect(text).toMatch(/dead_letters_total\{type="redis\.redis\.reshard\.progressed\.v1",code="500",function="dead-letter"\} 105/);
    expect(text).toMatch(/dead_letters_total\{type="com\.example\.anything",code="404",function="dead-letter"\} 1/);
  });
});
