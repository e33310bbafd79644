// Watches on the embedded API server through client-node's Watch: event order, resuming from a
// resourceVersion, selector watches, 410 Gone when the history is gone, timeouts; and the state
// file that keeps objects and the resourceVersion counter across a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, Watch, makeInformer, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, waitFor, type TestApi } from '../helpers/platform-api.js';

interface Seen {
  type: string;
  name?: string;
  rv?: string;
  data?: Record<string, string>;
  code?: number;
}

async function collect(api: TestApi, path: string, query: Record<string, string | number | boolean | undefined>) {
  const seen: Seen[] = [];
  let ended = false;
  let error: unknown;
  const controller = await new Watch(api.kc).watch(
    path,
    query,
    (type, obj) => seen.push({ type, name: obj?.metadata?.name, rv: obj?.metadata?.resourceVersion, data: obj?.data, code: obj?.code }),
    (err) => {
      ended = true;
      error = err;
    },
  );
  return { seen, controller, ended: () => ended, error: () => error };
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('watch', () => {
  let api: TestApi;
  let core: CoreV1Api;

  beforeAll(async () => {
    api = await startTestApi({ watchHistory: 20 });
    core = api.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'w' } } });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('streams changes in order and resumes from a resourceVersion', async () => {
    const start = (await core.listNamespacedConfigMap({ namespace: 'w' })).metadata!.resourceVersion!;
    const live = await collect(api, '/api/v1/namespaces/w/configmaps', { resourceVersion: start, allowWatchBookmarks: true });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'a' }, data: { v: '1' } } });
    await core.patchNamespacedConfigMap({ name: 'a', namespace: 'w', body: { data: { v: '2' } } }, merge);
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'b' } } });
    await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'w' });
    await waitFor('four events', () => live.seen.length >= 4);
    live.controller.abort();
    expect(live.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED a', 'MODIFIED a', 'ADDED b', 'DELETED a']);
    expect(live.seen[1]!.data).toEqual({ v: '2' });
    const rvs = live.seen.map((e) => Number(e.rv));
    expect([...rvs].sort((x, y) => x - y)).toEqual(rvs);

    // Resume after the second event: only what came later.
    const resumed = await collect(api, '/api/v1/namespaces/w/configmaps', { resourceVersion: live.seen[1]!.rv });
    await waitFor('replayed events', () => resumed.seen.length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    resumed.controller.abort();
    expect(resumed.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED b', 'DELETED a']);
  });

  it('starts with the current objects when no resourceVersion is given', async () => {
    const w = await collect(api, '/api/v1/namespaces/w/configmaps', {});
    await waitFor('initial state', () => w.seen.length >= 1);
    w.controller.abort();
    expect(w.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED b']);
  });

  it('streams a list with sendInitialEvents and marks its end with a bookmark', async () => {
    const w = await collect(api, '/api/v1/namespaces/w/configmaps', {
      sendInitialEvents: true,
      resourceVersionMatch: 'NotOlderThan',
      allowWatchBookmarks: true,
    });
    await waitFor('the initial state and its end', () => w.seen.some((e) => e.type === 'BOOKMARK'));
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'streamed' } } });
    await waitFor('the later change', () => w.seen.some((e) => e.name === 'streamed'));
    w.controller.abort();
    expect(w.seen.map((e) => `${e.type} ${e.name ?? ''}`)).toEqual(['ADDED b', 'BOOKMARK ', 'ADDED streamed']);
    await core.deleteNamespacedConfigMap({ name: 'streamed', namespace: 'w' });
  });

  it('tells a selector watch when an object leaves or enters its view', async () => {
    const start = (await core.listNamespacedConfigMap({ namespace: 'w' })).metadata!.resourceVersion!;
    const w = await collect(api, '/api/v1/namespaces/w/configmaps', { resourceVersion: start, labelSelector: 'role=cache' });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'l', labels: { role: 'cache' } } } });
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'other', labels: { role: 'db' } } } });
    await core.patchNamespacedConfigMap({ name: 'l', namespace: 'w', body: { metadata: { labels: { role: 'db' } } } }, merge);
    await core.patchNamespacedConfigMap({ name: 'other', namespace: 'w', body: { metadata: { labels: { role: 'cache' } } } }, merge);
    await waitFor('selector events', () => w.seen.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    w.controller.abort();
    expect(w.seen.map((e) => `${e.type} ${e.name}`)).toEqual(['ADDED l', 'DELETED l', 'ADDED other']);
  });

  it('answers a watch from a resourceVersion older than its history with 410 Gone', async () => {
    const old = (await core.listNamespacedConfigMap({ namespace: 'w' })).metadata!.resourceVersion!;
    for (let i = 0; i < 25; i++) await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: `churn-${i}` } } });
    const w = await collect(api, '/api/v1/namespaces/w/configmaps', { resourceVersion: old });
    await waitFor('the error event', () => w.seen.length >= 1);
    expect(w.seen[0]).toMatchObject({ type: 'ERROR', code: 410 });
    await waitFor('the stream ends', () => w.ended());
  });

  it('feeds a client-node informer (list, then watch from the list)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    await core.createNamespacedPod({
      namespace: 'inf',
      body: { metadata: { name: 'before', labels: { app: 'i' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    const informer = makeInformer<V1Pod>(
      api.kc,
      '/api/v1/namespaces/inf/pods',
      () => core.listNamespacedPod({ namespace: 'inf' }),
      'app=i',
    );
    const seen: string[] = [];
    informer.on('add', (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on('update', (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.v ?? ''}`));
    informer.on('delete', (p) => seen.push(`delete ${p.metadata?.name}`));
    await informer.start();
    try {
      await waitFor('the listed Pod', () => seen.includes('add before'));
      await core.createNamespacedPod({
        namespace: 'inf',
        body: { metadata: { name: 'after', labels: { app: 'i' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      });
      await core.patchNamespacedPod({ name: 'after', namespace: 'inf', body: { metadata: { labels: { v: '2' } } } }, merge);
      await core.deleteNamespacedPod({ name: 'before', namespace: 'inf' });
      await waitFor('informer events', () => seen.length >= 4);
      expect(seen).toEqual(['add before', 'add after', 'update after 2', 'delete before']);
      expect(informer.list().map((p) => p.metadata?.name)).toEqual(['after']);
    } finally {
      await informer.stop();
    }
  });

  it('ends a watch after timeoutSeconds', async () => {
    const began = Date.now();
    const w = await collect(api, '/api/v1/namespaces/w/configmaps', { timeoutSeconds: 1, resourceVersion: '0' });
    await waitFor('the stream ends', () => w.ended(), 5000);
    expect(Date.now() - began).toBeGreaterThanOrEqual(900);
  });
});

describe('state file', () => {
  it('keeps objects and continues the resourceVersion after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apiserver-state-'));
    const stateFile = join(dir, 'not-yet', 'state.json');
    try {
      let api = await startTestApi({ stateFile });
      let core = api.kc.makeApiClient(CoreV1Api);
      await core.createNamespace({ body: { metadata: { name: 'kept' } } });
      const cm = await core.createNamespacedConfigMap({ namespace: 'kept', body: { metadata: { name: 'c' }, data: { k: 'v' } } });
      await api.close();

      api = await startTestApi({ stateFile });
      core = api.kc.makeApiClient(CoreV1Api);
      try {
        const again = await core.readNamespacedConfigMap({ name: 'c', namespace: 'kept' });
        expect(again.data).toEqual({ k: 'v' });
        expect(again.metadata?.uid).toBe(cm.metadata?.uid);
        const next = await core.createNamespacedConfigMap({ namespace: 'kept', body: { metadata: { name: 'd' } } });
        expect(Number(next.metadata?.resourceVersion)).toBeGreaterThan(Number(cm.metadata?.resourceVersion));
        // What happened before the restart cannot be replayed.
        const w = await collect(api, '/api/v1/namespaces/kept/configmaps', {
          resourceVersion: String(Number(cm.metadata!.resourceVersion) - 1),
        });
        await waitFor('the error event', () => w.seen.length >= 1);
        expect(w.seen[0]).toMatchObject({ type: 'ERROR', code: 410 });
      } finally {
        await api.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
