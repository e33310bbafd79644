// Scale-out and scale-in drains on real redis-server processes, with 100k keys and a client
// writing and reading throughout: every key survives, the client sees no error.
import { afterEach, describe, expect, it } from 'vitest';
import { checkCluster, ownersFromView } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { planScaleIn, planScaleOut } from '../../shared/redis/planner/reshard.js';
import { countSlots } from '../../shared/redis/topology.js';
import type { ReshardPlan } from '../../shared/redis/types.js';
import {
  evenCreatePlan,
  loadKeys,
  startClientLoad,
  startRedisNodes,
  verifyAcked,
  verifyKeys,
  type Harness,
} from '../helpers/redis-harness.js';

const KEYS = 100_000;
const VALUE_BYTES = 20;

let harness: Harness | undefined;
let pool: RedisPool | undefined;

afterEach(async () => {
  await pool?.close();
  await harness?.stop();
  pool = undefined;
  harness = undefined;
});

/** masters (the first nodes) with replicasPerMaster each, then `empty` masters with no slots. */
async function form(masters: number, replicasPerMaster: number, empty: number) {
  harness = await startRedisNodes(masters * (1 + replicasPerMaster) + empty);
  pool = new RedisPool();
  const desired = harness.desiredNodes();
  const plan = evenCreatePlan(desired.slice(0, masters * (1 + replicasPerMaster)), masters, replicasPerMaster);
  for (const d of desired.slice(masters * (1 + replicasPerMaster))) plan.masters.push({ node: d.name, slots: [] });
  const created = await ensureCreated(pool, desired, plan);
  expect(created.done).toBe(true);
  const ids = await Promise.all(harness.endpoints.map(async (e) => (await pool!.readReport(e)).myId));
  return { ids, masterIds: ids.slice(0, masters), emptyIds: ids.slice(masters * (1 + replicasPerMaster)) };
}

async function owners() {
  return ownersFromView((await pool!.readReport(harness!.endpoints[0]!)).nodes);
}

/** Loads the keys, runs the plan under client load, and checks keys, load and the cluster. */
async function reshardUnderLoad(plan: () => Promise<ReshardPlan>) {
  const h = harness!;
  const cluster = h.cluster();
  try {
    await loadKeys(cluster, KEYS, VALUE_BYTES);
    const reshard = await plan();
    expect(reshard.moves.length).toBeGreaterThan(0);
    const load = startClientLoad(h.endpoints);
    await new Promise((r) => setTimeout(r, 300));
    const result = await migrateSlots(pool!, reshard.waves, { endpoints: h.endpoints });
    await new Promise((r) => setTimeout(r, 300));
    const stats = await load.stop();
    expect(result.errors).toEqual([]);
    expect(result.done).toBe(true);
    expect(result.remaining).toEqual([]);
    expect(result.slotsMoved).toBe(reshard.moves.reduce((n, m) => n + countSlots(m.slots), 0));
    expect(stats.ops).toBeGreaterThan(100);
    expect(stats.failures).toEqual([]);

    // Every node ends with the same slot map, no open slot, all slots covered.
    await waitFor('views to agree', 10_000, async () => {
      const { reports } = await pool!.readAll(h.endpoints);
      const codes = checkCluster(reports).map((p) => p.code);
      return codes.some((c) => ['views-disagree', 'open-slot', 'slots-uncovered', 'slots-overlap'].includes(c)) ? undefined : true;
    });
    expect(await verifyKeys(cluster, KEYS, VALUE_BYTES)).toMatchObject({ missing: 0, wrong: 0 });
    expect(await verifyAcked(cluster, stats.acked)).toMatchObject({ missing: 0, wrong: 0 });
    // The sum of keys over masters is exactly what was written: nothing lost, nothing duplicated.
    const { reports } = await pool!.readAll(h.endpoints);
    const total = reports.filter((r) => r.replication['role'] === 'master').reduce((n, r) => n + r.keys, 0);
    expect(total).toBe(KEYS + stats.acked.length);
    return { result, reports };
  } finally {
    cluster.disconnect();
  }
}

describe('slot migration engine', () => {
  it('scales out 3 -> 4 masters', async () => {
    const { emptyIds } = await form(3, 1, 1);
    const { reports } = await reshardUnderLoad(async () => planScaleOut(await owners(), emptyIds));
    const final = ownersFromView(reports[0]!.nodes);
    expect(countSlots(final.get(emptyIds[0]!)!)).toBe(4096);
  });

  it('scales out 3 -> 6 masters', async () => {
    const { emptyIds } = await form(3, 0, 3);
    const { reports } = await reshardUnderLoad(async () => planScaleOut(await owners(), emptyIds));
    const final = ownersFromView(reports[0]!.nodes);
    for (const id of emptyIds) expect(countSlots(final.get(id)!)).toBeGreaterThanOrEqual(2730);
  });

  it('drains 6 -> 3 masters', async () => {
    const { masterIds } = await form(6, 0, 0);
    const victims = masterIds.slice(3);
    const { reports } = await reshardUnderLoad(async () => planScaleIn(await owners(), victims));
    const final = ownersFromView(reports[0]!.nodes);
    for (const id of victims) expect(countSlots(final.get(id) ?? [])).toBe(0);
  });

  it('drains 4 -> 3 masters, replicas attached', async () => {
    const { masterIds } = await form(4, 1, 0);
    const victim = masterIds[3]!;
    const { reports } = await reshardUnderLoad(async () => planScaleIn(await owners(), [victim]));
    const final = ownersFromView(reports[0]!.nodes);
    expect(countSlots(final.get(victim) ?? [])).toBe(0);
  });
});
