// Interrupted migrations: an executor that stops mid-slot, and a source master killed mid-slot.
// The nodes' own importing/migrating flags are enough to finish the work without losing a key.
import { afterEach, describe, expect, it } from 'vitest';
import { checkCluster, ownersFromView } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { resumeOpenSlots } from '../../shared/redis/executor/migrate/open-slots.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { keySlot, waitFor } from '../../shared/redis/executor/util.js';
import { planScaleOut } from '../../shared/redis/planner/reshard.js';
import type { SlotRange } from '../../shared/redis/types.js';
import {
  evenCreatePlan,
  loadKeys,
  startClientLoad,
  startRedisNodes,
  verifyAcked,
  verifyKeys,
  type Harness,
} from '../helpers/redis-harness.js';

const KEYS = 30_000;
const VALUE_BYTES = 20;

let harness: Harness | undefined;
const pools: RedisPool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await harness?.stop();
  harness = undefined;
});

function newPool() {
  const p = new RedisPool();
  pools.push(p);
  return p;
}

/** Forms masters x (1 + replicas) of the harness's nodes; the rest join as empty masters. */
async function form(h: Harness, pool: RedisPool, masters: number, replicas: number) {
  const desired = h.desiredNodes();
  const n = masters * (1 + replicas);
  const plan = evenCreatePlan(desired.slice(0, n), masters, replicas);
  for (const d of desired.slice(n)) plan.masters.push({ node: d.name, slots: [] });
  expect((await ensureCreated(pool, desired, plan)).done).toBe(true);
  return Promise.all(h.endpoints.map(async (e) => (await pool.readReport(e)).myId));
}

/** Slot owners from the first reachable node, leaving out failed masters. */
async function liveOwners(pool: RedisPool, h: Harness): Promise<Map<string, SlotRange[]>> {
  const { reports } = await pool.readAll(h.endpoints);
  const view = reports[0]!.nodes.filter((n) => !n.flags.includes('fail') && !n.flags.includes('fail?'));
  return ownersFromView(view);
}

async function expectHealthy(pool: RedisPool, h: Harness) {
  await waitFor('a consistent cluster with no open slot', 15_000, async () => {
    const { reports } = await pool.readAll(h.endpoints.filter((_, i) => h.nodes[i]!.running));
    const codes = checkCluster(reports).map((p) => p.code);
    return codes.some((c) => ['views-disagree', 'open-slot', 'slots-uncovered', 'slots-overlap'].includes(c)) ? undefined : true;
  });
}

describe('interrupted migrations', () => {
  it('a fresh executor rolls forward slots left open by one that stopped mid-slot', async () => {
    harness = await startRedisNodes(4);
    const pool = newPool();
    const ids = await form(harness, pool, 3, 0);
    const cluster = harness.cluster();
    try {
      await loadKeys(cluster, KEYS, VALUE_BYTES);
      // A hot slot with many keys, so it takes several batches to empty.
      const hot = Array.from({ length: 3000 }, (_, i) => `{hot}:${i}`);
      await loadKeys(cluster, hot.length, VALUE_BYTES, '{hot}');
      const hotSlot = keySlot('{hot}');
      const owner = [...(await liveOwners(pool, harness)).entries()].find(([, r]) =>
        r.some((x) => x.start <= hotSlot && hotSlot <= x.end),
      )![0];
      const target = ids[3]!;
      const load = startClientLoad(harness.endpoints);
      let batches = 0;
      const aborted = await migrateSlots(pool, [{ sourceId: owner, targetId: target, slots: [{ start: hotSlot - 2, end: hotSlot + 2 }] }], {
        endpoints: harness.endpoints,
        maxKeysPerBatch: 100,
        onBatch: () => {
          if (++batches === 5) throw new Error('executor crashed');
        },
      });
      expect(aborted.done).toBe(false);
      expect(aborted.errors.join()).toMatch(/executor crashed/);
      // The slot is really half-moved: open on both sides, keys on both sides.
      const src = harness.endpoints[ids.indexOf(owner)]!;
      const dst = harness.endpoints[3]!;
      const srcView = await pool.readReport(src);
      expect(srcView.nodes.find((n) => n.id === owner)!.openSlots).toContainEqual({ slot: hotSlot, state: 'migrating', peerId: target });
      const onSource = Number(await pool.call(src, 'CLUSTER', 'COUNTKEYSINSLOT', hotSlot));
      const onTarget = Number(await pool.call(dst, 'CLUSTER', 'COUNTKEYSINSLOT', hotSlot));
      expect(onSource).toBeGreaterThan(0);
      expect(onTarget).toBeGreaterThan(0);
      await pool.close();

      // A new executor knows nothing but the nodes.
      const fresh = newPool();
      const resumed = await resumeOpenSlots(fresh, harness.endpoints);
      expect(resumed.problems).toEqual([]);
      expect(resumed.actions.some((a) => a.kind === 'slot-resumed' && a.slots?.some((r) => r.start <= hotSlot && hotSlot <= r.end))).toBe(
        true,
      );
      expect(Number(await fresh.call(src, 'CLUSTER', 'COUNTKEYSINSLOT', hotSlot))).toBe(0);
      expect(Number(await fresh.call(dst, 'CLUSTER', 'COUNTKEYSINSLOT', hotSlot))).toBe(onSource + onTarget);
      // The rest of the interrupted move finishes normally.
      const rest = await migrateSlots(fresh, aborted.remaining, { endpoints: harness.endpoints });
      expect(rest.errors).toEqual([]);
      expect(rest.done).toBe(true);
      const stats = await load.stop();
      expect(stats.failures).toEqual([]);
      await expectHealthy(fresh, harness);
      const finalOwners = await liveOwners(fresh, harness);
      expect(finalOwners.get(target)).toEqual([{ start: hotSlot - 2, end: hotSlot + 2 }]);
      expect(await verifyKeys(cluster, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
      expect(await verifyKeys(cluster, hot.length, VALUE_BYTES, '{hot}')).toMatchObject({ missing: 0, wrong: 0 });
      expect(await verifyAcked(cluster, stats.acked)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
  });

  it('resolves BUSYKEY with the source as the authority and records the replaced keys', async () => {
    harness = await startRedisNodes(4);
    const pool = newPool();
    const ids = await form(harness, pool, 3, 0);
    const key = 'conflict:{busy}';
    const slot = keySlot(key);
    const owners = await liveOwners(pool, harness);
    const owner = [...owners.entries()].find(([, r]) => r.some((x) => x.start <= slot && slot <= x.end))![0];
    const src = harness.endpoints[ids.indexOf(owner)]!;
    const dst = harness.endpoints[3]!;
    await pool.call(src, 'SET', key, 'from-source');
    await pool.call(src, 'SET', 'other:{busy}', 'kept');
    // A stale copy on the target, as an earlier MIGRATE that timed out after RESTORE would leave.
    await pool.call(dst, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', owner);
    const c = await pool.client(dst);
    await c.pipeline().call('ASKING').call('SET', key, 'stale-on-target').exec();
    const result = await migrateSlots(pool, [{ sourceId: owner, targetId: ids[3]!, slots: [{ start: slot, end: slot }] }], {
      endpoints: harness.endpoints,
    });
    expect(result.errors).toEqual([]);
    expect(result.done).toBe(true);
    expect(result.replacedKeys).toEqual([key]);
    expect(await pool.call(dst, 'GET', key)).toBe('from-source');
    expect(await pool.call(dst, 'GET', 'other:{busy}')).toBe('kept');
    expect(Number(await pool.call(src, 'CLUSTER', 'COUNTKEYSINSLOT', slot))).toBe(0);
  });

  it('stops cleanly at the deadline with no slot left open, and the rest finishes later (per-slot hand-over)', async () => {
    harness = await startRedisNodes(4);
    const pool = newPool();
    const ids = await form(harness, pool, 3, 0);
    const cluster = harness.cluster();
    try {
      await loadKeys(cluster, KEYS, VALUE_BYTES);
      const plan = planScaleOut(await liveOwners(pool, harness), [ids[3]!]);
      const planned = plan.moves.reduce((n, m) => n + m.slots.reduce((k, r) => k + r.end - r.start + 1, 0), 0);
      const opts = { endpoints: harness.endpoints, groupedHandover: false, slotsPerGroup: 8 };
      const first = await migrateSlots(pool, plan.waves, { ...opts, deadline: Date.now() + 300 });
      expect(first.done).toBe(false);
      expect(first.errors).toEqual([]);
      expect(first.slotsMoved).toBeGreaterThan(0);
      const left = first.remaining.reduce((n, m) => n + m.slots.reduce((k, r) => k + r.end - r.start + 1, 0), 0);
      expect(first.slotsMoved + left).toBe(planned);
      const { reports } = await pool.readAll(harness.endpoints);
      for (const r of reports) expect(r.nodes.find((n) => n.id === r.myId)!.openSlots).toEqual([]);
      expect((await liveOwners(pool, harness)).get(ids[3]!)!.reduce((k, r) => k + r.end - r.start + 1, 0)).toBe(first.slotsMoved);

      const rest = await migrateSlots(pool, first.remaining, opts);
      expect(rest.done).toBe(true);
      expect(first.slotsMoved + rest.slotsMoved).toBe(planned);
      await expectHealthy(pool, harness);
      expect(await verifyKeys(cluster, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
  });

  for (const mode of ['resumed by a later run', 'taken over by the running executor'] as const) {
    it(`a source master killed mid-migration fails over and the move is ${mode}`, { timeout: 120_000 }, async () => {
      harness = await startRedisNodes(7, { config: { 'cluster-node-timeout': '2000' } });
      const h = harness;
      const pool = newPool();
      const ids = await form(h, pool, 3, 1);
      const target = ids[6]!;
      const cluster = h.cluster();
      try {
        await loadKeys(cluster, KEYS, VALUE_BYTES);
        const plan = planScaleOut(await liveOwners(pool, h), [target]);
        const load = startClientLoad(h.endpoints);
        let killed: string | undefined;
        let batches = 0;
        const first = await migrateSlots(pool, plan.waves, {
          endpoints: h.endpoints,
          parallel: false,
          // Giving up at once leaves the target importing from a dead master: the cluster stays
          // down on it until the open slots are resumed, so other pairs stop soon too.
          failoverWaitMs: mode === 'resumed by a later run' ? 0 : 30_000,
          clusterDownWaitMs: mode === 'resumed by a later run' ? 2000 : 30_000,
          onBatch: async ({ sourceId }) => {
            if (killed || ++batches < 20) return;
            killed = sourceId;
            await h.kill(ids.indexOf(sourceId), 'SIGKILL');
          },
        });
        expect(killed).toBeDefined();
        const replicaIndex = ids.indexOf(killed!) + 3;
        await waitFor('the replica of the killed master to take over', 30_000, async () => {
          const r = await pool.readReport(h.endpoints[replicaIndex]!);
          return r.replication['role'] === 'master' && r.clusterState === 'ok' ? true : undefined;
        });
        if (mode === 'resumed by a later run') {
          expect(first.done).toBe(false);
          const resumed = await resumeOpenSlots(pool, h.endpoints);
          expect(resumed.problems).toEqual([]);
          expect(resumed.actions.filter((a) => a.kind === 'slot-resumed').length).toBeGreaterThan(0);
          const again = planScaleOut(await liveOwners(pool, h), [target]);
          const second = await migrateSlots(pool, again.waves, { endpoints: h.endpoints });
          expect(second.errors).toEqual([]);
        } else {
          expect(first.errors).toEqual([]);
          expect(first.done).toBe(true);
          expect(first.actions.some((a) => a.kind === 'failover' && a.nodeId === ids[replicaIndex])).toBe(true);
        }
        await new Promise((r) => setTimeout(r, 300));
        const stats = await load.stop();
        await expectHealthy(pool, h);
        const finalOwners = await liveOwners(pool, h);
        expect(finalOwners.has(killed!)).toBe(false);
        expect([...finalOwners.values()].every((r) => r.length > 0)).toBe(true);
        const check = h.cluster();
        try {
          expect(await verifyKeys(check, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
          expect(await verifyAcked(check, stats.acked)).toMatchObject({ missing: 0, wrong: 0 });
        } finally {
          check.disconnect();
        }
      } finally {
        cluster.disconnect();
      }
    });
  }
});
