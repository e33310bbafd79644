// The reshard function's chunks against real redis-server processes and the embedded API server:
// progress in the status, a chunk interrupted mid-migration resumed by the next delivery, the
// Lease keeping a second writer out, a pause between chunks, scale-out and scale-in with every key
// intact.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runReshardChunk, DEFAULT_SETTINGS, type ChunkResult, type ReshardDeps } from '../../functions/reshard/reshard.js';
import { REPO_ROOT } from '../../local/platform.js';
import type { RedisCluster } from '../../shared/api/index.js';
import { createEventRecorder, Kube, leaseHolder, tryAcquireLease } from '../../shared/kube/index.js';
import { ownersFromView } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { countSlots } from '../../shared/redis/topology.js';
import { startTestApi, waitFor, type TestApi } from '../helpers/platform-api.js';
import { evenCreatePlan, loadKeys, startRedisNodes, verifyKeys, type Harness } from '../helpers/redis-harness.js';

const KEYS = 20_000;
const VALUE_BYTES = 20;
const REF = { namespace: 'default', name: 'rc1' };

let api: TestApi;
let kube: Kube;
let harness: Harness;
let pool: RedisPool;
let ids: string[] = [];

const log = pino({ level: 'silent' });

function deps(over: Partial<ReshardDeps> = {}): ReshardDeps {
  return {
    kube,
    recorder: createEventRecorder(kube, 'redis-operator-reshard'),
    log,
    holder: 'reshard/test/1',
    source: '/redis-operator/reshard',
    settings: { ...DEFAULT_SETTINGS, chunkSlots: 1500, settleMs: 10_000, progressEveryMs: 200, leaseWaitMs: 0 },
    ...over,
  };
}

async function cluster(): Promise<RedisCluster> {
  return (await kube.getCluster<RedisCluster>(REF))!;
}

async function slotsPerMaster(): Promise<Map<string, number>> {
  const owners = ownersFromView((await pool.readReport(harness.endpoints[0]!)).nodes);
  return new Map([...owners].map(([id, r]) => [id, countSlots(r)]));
}

let chainStep = 0;
/** Delivers chunks as the Broker would (each reply causing the next) until the reshard completes. */
async function runToCompletion(max = 20, holder = 'reshard/test/1'): Promise<ChunkResult[]> {
  const results: ChunkResult[] = [];
  let cause = { id: `req-${++chainStep}`, source: '/redis-operator/reconcile', step: 1 };
  for (let i = 0; i < max; i++) {
    const r = await runReshardChunk(REF, cause, deps({ holder }));
    results.push(r);
    if (r.kind === 'completed') return results;
    if (r.kind === 'progressed') cause = { id: String(r.event.id), source: String(r.event.source), step: cause.step + 1 };
    else await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`no completion after ${max} chunks: ${JSON.stringify(results.map((r) => r.kind))}`);
}

beforeAll(async () => {
  api = await startTestApi();
  kube = new Kube(api.kc);
  const crd = parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8'));
  await kube.apply(crd);
  await waitFor(
    'the CRD to be served',
    async () =>
      await kube.listClusters('default').then(
        () => true,
        () => undefined,
      ),
  );

  // 3 masters with the slots, and one empty master already joined (what reconcile does on scale-out).
  harness = await startRedisNodes(4, { config: { 'cluster-node-timeout': '2000' } });
  pool = new RedisPool();
  const desired = harness.desiredNodes();
  const plan = evenCreatePlan(desired.slice(0, 3), 3, 0);
  plan.masters.push({ node: desired[3]!.name, slots: [] });
  expect((await ensureCreated(pool, desired, plan)).done).toBe(true);
  ids = await Promise.all(harness.endpoints.map(async (e) => (await pool.readReport(e)).myId));
  const c = harness.cluster();
  try {
    await loadKeys(c, KEYS, VALUE_BYTES);
  } finally {
    c.disconnect();
  }

  await kube.apply({
    apiVersion: 'redis.redis/v1beta1',
    kind: 'RedisCluster',
    metadata: { name: REF.name, namespace: REF.namespace },
    spec: { image: 'redis:7', masters: 4, replicas: 0, maxMemory: '64mb', basePort: 20000 },
  });
  // No Pods here: the nodes' addresses come from the status, as reconcile wrote them.
  await kube.patchClusterStatus(REF, {
    phase: 'Ready',
    nodes: harness.endpoints.map((e, i) => ({ id: ids[i]!, pod: `rc1-${i}`, ip: e.ip, port: e.port, role: 'master' })),
  });
}, 120_000);

afterAll(async () => {
  await pool?.close();
  await harness?.stop();
  await api?.close();
});

describe('reshard handler', () => {
  it('a chunk moves at most its share, records progress in the status and replies progressed', async () => {
    const r = await runReshardChunk(REF, { id: 'req-0', source: '/redis-operator/reconcile', step: 1 }, deps());
    expect(r.kind).toBe('progressed');
    if (r.kind !== 'progressed') return;
    expect(r.event.type).toBe('redis.redis.reshard.progressed.v1');
    expect(r.slotsTotal).toBe(4096);
    expect(r.slotsDone).toBe(1500);
    const status = (await cluster()).status!;
    expect(status.phase).toBe('Resharding');
    expect(status.reshard).toMatchObject({ state: 'Running', operation: 'Rebalance', slotsTotal: 4096, slotsDone: 1500 });
    expect(status.reshard!.keysMoved).toBeGreaterThan(0);
    expect(status.reshard!.startedAt).toBeTruthy();
    expect(status.reshard!.currentMoves!.length).toBeGreaterThan(0);
    expect(status.conditions!.find((c) => c.type === 'Resharding')).toMatchObject({ status: 'True', reason: 'ScaleOut' });
    expect((await slotsPerMaster()).get(ids[3]!)).toBe(1500);

    // The same delivery again (a Broker retry) gives the same reply id: the chain is deterministic.
    const again = await runReshardChunk(
      REF,
      { id: 'req-0', source: '/redis-operator/reconcile', step: 1 },
      deps({ settings: { ...deps().settings, chunkSlots: 1 } }),
    );
    expect(again.kind === 'progressed' && again.event.id).toBe(r.event.id);
  }, 60_000);

  it('another holder of the Lease makes the delivery come back later, and nothing moves', async () => {
    const before = await slotsPerMaster();
    const held = await tryAcquireLease(kube, REF, { holder: 'reconcile/other/1', durationSeconds: 30 });
    expect(held).toBeDefined();
    expect(await leaseHolder(kube, REF)).toBe('reconcile/other/1');
    // Past its duration without a renewal, nobody holds it.
    expect(await leaseHolder(kube, REF, new Date(Date.now() + 31_000))).toBeUndefined();
    try {
      const r = await runReshardChunk(REF, { id: 'x', source: 's', step: 2 }, deps());
      expect(r).toMatchObject({ kind: 'busy' });
      expect((r as { message: string }).message).toContain('reconcile/other/1');
      expect(await slotsPerMaster()).toEqual(before);
    } finally {
      await held!.release();
    }
    expect(await leaseHolder(kube, REF)).toBeUndefined();
  }, 30_000);

  it('a Lease another writer releases within the wait is taken: no busy answer, no back-off', async () => {
    const held = await tryAcquireLease(kube, REF, { holder: 'reconcile/other/2', durationSeconds: 30 });
    expect(held).toBeDefined();
    const releasedAt = Date.now() + 1000;
    const release = new Promise((r) => setTimeout(r, 1000)).then(() => held!.release());
    const r = await runReshardChunk(
      REF,
      { id: 'wait', source: 's', step: 2 },
      deps({ settings: { ...deps().settings, chunkSlots: 1, leaseWaitMs: 5000 } }),
    );
    await release;
    expect(r.kind).not.toBe('busy');
    expect(Date.now()).toBeGreaterThanOrEqual(releasedAt);
  }, 30_000);

  it('spec.paused stops the reshard before its next chunk, progress kept; unpaused, it goes on from there', async () => {
    const before = await slotsPerMaster();
    const done = (await cluster()).status!.reshard!.slotsDone;
    await kube.patchCluster(REF, { spec: { paused: true } });
    const paused = await runReshardChunk(REF, { id: 'paused', source: 's', step: 3 }, deps());
    expect(paused.kind).toBe('paused');
    expect(await slotsPerMaster()).toEqual(before);
    expect((await cluster()).status!.reshard).toMatchObject({ state: 'Paused', slotsTotal: 4096, slotsDone: done, currentMoves: [] });
    expect(await leaseHolder(kube, REF)).toBeUndefined();

    await kube.patchCluster(REF, { spec: { paused: false } });
    const resumed = await runReshardChunk(
      REF,
      { id: 'resumed', source: 's', step: 1 },
      deps({ settings: { ...deps().settings, chunkSlots: 1 } }),
    );
    expect(resumed).toMatchObject({ kind: 'progressed', slotsTotal: 4096, slotsDone: done! + 1 });
    expect((await cluster()).status!.reshard).toMatchObject({ state: 'Running', slotsTotal: 4096 });
  }, 30_000);

  it('a chunk that dies mid-migration leaves slots open; the next delivery rolls them forward and finishes', async () => {
    let batches = 0;
    const crashed = await runReshardChunk(
      REF,
      { id: 'crash', source: 's', step: 3 },
      deps({
        migrate: {
          maxKeysPerBatch: 5,
          onBatch: () => {
            if (++batches === 4) throw new Error('function process killed');
          },
        },
      }),
    );
    expect(['progressed', 'retry']).toContain(crashed.kind);
    const report = await pool.readReport(harness.endpoints[3]!);
    const open = report.nodes.find((n) => n.id === ids[3])!.openSlots ?? [];
    expect(open.length).toBeGreaterThan(0);

    const results = await runToCompletion();
    const done = results.at(-1)!;
    expect(done.kind).toBe('completed');
    if (done.kind === 'completed') {
      expect(done.event.type).toBe('redis.redis.reshard.completed.v1');
      expect((done.event.data as { outcome: string }).outcome).toBe('succeeded');
    }
    const sizes = await slotsPerMaster();
    expect([...sizes.values()].sort()).toEqual([4096, 4096, 4096, 4096]);
    const status = (await cluster()).status!;
    expect(status.reshard).toMatchObject({ state: 'Completed', slotsTotal: 4096, slotsDone: 4096, currentMoves: [] });
    expect(status.conditions!.find((c) => c.type === 'Resharding')).toMatchObject({ status: 'False', reason: 'ReshardCompleted' });
    for (const ep of harness.endpoints) {
      const view = await pool.readReport(ep);
      expect(view.nodes.flatMap((n) => n.openSlots ?? [])).toEqual([]);
    }
    const c = harness.cluster();
    try {
      expect(await verifyKeys(c, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      c.disconnect();
    }
  }, 120_000);

  it('a request on a balanced cluster completes at once with nothing moved', async () => {
    const r = await runReshardChunk(REF, { id: 'noop', source: 's', step: 1 }, deps());
    expect(r).toMatchObject({ kind: 'completed', slotsMoved: 0 });
  }, 30_000);

  it('scale-in drains one master over all the others, every key intact, with two requests running at once', async () => {
    await kube.patchCluster(REF, { spec: { masters: 3 } });
    // Two deliveries for the same cluster (a duplicate request): the Lease lets one work at a time.
    const [a, b] = await Promise.all([runToCompletion(40, 'reshard/a/1'), runToCompletion(40, 'reshard/b/2')]);
    const results = [...a, ...b];
    expect(results.filter((r) => r.kind === 'progressed').length).toBeGreaterThanOrEqual(2);
    expect(results.some((r) => r.kind === 'busy')).toBe(true);
    expect(a.at(-1)!.kind).toBe('completed');
    expect(b.at(-1)!.kind).toBe('completed');
    const sizes = await slotsPerMaster();
    const owning = [...sizes.values()].filter((n) => n > 0).sort();
    expect(owning).toHaveLength(3);
    expect(Math.max(...owning) - Math.min(...owning)).toBeLessThanOrEqual(1);
    expect((await cluster()).status!.reshard).toMatchObject({ state: 'Completed', operation: 'Drain', slotsTotal: 4096, slotsDone: 4096 });
    const c = harness.cluster();
    try {
      expect(await verifyKeys(c, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      c.disconnect();
    }
  }, 120_000);
});
