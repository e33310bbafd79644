import { afterEach, describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { evenCreatePlan, loadKeys, startRedisNodes, verifyKeys, type Harness } from '../helpers/redis-harness.js';

let harness: Harness | undefined;
let pool: RedisPool | undefined;

afterEach(async () => {
  await pool?.close();
  await harness?.stop();
  pool = undefined;
  harness = undefined;
});

async function problemsOf(h: Harness, masters: number, replicas: number) {
  const { reports, unreachable } = await pool!.readAll(h.endpoints);
  expect(unreachable).toEqual([]);
  return checkCluster(reports, { nodes: h.desiredNodes(), masters, replicasPerMaster: replicas });
}

describe('ensureCreated', () => {
  it('forms a 3x1 cluster that passes the check, serves keys, and a second run changes nothing', async () => {
    harness = await startRedisNodes(6);
    pool = new RedisPool();
    const desired = harness.desiredNodes();
    const plan = evenCreatePlan(desired, 3, 1);
    const first = await ensureCreated(pool, desired, plan);
    expect(first.done).toBe(true);
    expect(first.actions.filter((a) => a.kind === 'set-config-epoch')).toHaveLength(6);
    expect(first.actions.filter((a) => a.kind === 'add-slots')).toHaveLength(3);
    expect(first.actions.filter((a) => a.kind === 'meet')).toHaveLength(5);
    expect(first.actions.filter((a) => a.kind === 'replicate')).toHaveLength(3);
    expect(await problemsOf(harness, 3, 1)).toEqual([]);

    const { reports } = await pool.readAll(harness.endpoints);
    for (const r of reports) {
      expect(r.clusterInfo['cluster_state']).toBe('ok');
      expect(r.clusterInfo['cluster_slots_assigned']).toBe('16384');
      expect(r.clusterInfo['cluster_known_nodes']).toBe('6');
    }
    const masterEpochs = reports[0]!.nodes.filter((n) => n.role === 'master').map((n) => n.configEpoch);
    expect(new Set(masterEpochs).size).toBe(3);

    const cluster = harness.cluster();
    await loadKeys(cluster, 2000, 50);
    expect(await verifyKeys(cluster, 2000, 50)).toMatchObject({ missing: 0, wrong: 0 });
    cluster.disconnect();

    const second = await ensureCreated(pool, desired, plan);
    expect(second.actions).toEqual([]);
    expect(second.done).toBe(true);
  });

  it('forms a 6x1 cluster', async () => {
    harness = await startRedisNodes(12);
    pool = new RedisPool();
    const desired = harness.desiredNodes();
    const result = await ensureCreated(pool, desired, evenCreatePlan(desired, 6, 1));
    expect(result.done).toBe(true);
    expect(await problemsOf(harness, 6, 1)).toEqual([]);
  });

  it('completes a half-formed cluster without re-creating what exists', async () => {
    harness = await startRedisNodes(6);
    pool = new RedisPool();
    const desired = harness.desiredNodes();
    const plan = evenCreatePlan(desired, 3, 1);
    // Slots added on two masters, one pair already met; the rest never happened.
    const ep = harness.endpoints;
    await pool.call(ep[0]!, 'CLUSTER', 'SET-CONFIG-EPOCH', 1);
    await pool.call(ep[1]!, 'CLUSTER', 'SET-CONFIG-EPOCH', 2);
    await pool.call(ep[0]!, 'CLUSTER', 'ADDSLOTSRANGE', 0, 5460);
    await pool.call(ep[1]!, 'CLUSTER', 'ADDSLOTSRANGE', 5461, 10922);
    await pool.call(ep[1]!, 'CLUSTER', 'MEET', ep[0]!.ip, ep[0]!.port);
    const before = (await pool.readReport(ep[0]!)).myId;

    const result = await ensureCreated(pool, desired, plan);
    expect(result.done).toBe(true);
    const added = result.actions.filter((a) => a.kind === 'add-slots');
    expect(added).toHaveLength(1);
    expect(added[0]!.slots).toEqual([{ start: 10923, end: 16383 }]);
    // The two nodes that already had epochs keep them (not reset).
    expect(result.actions.filter((a) => a.kind === 'set-config-epoch')).toHaveLength(4);
    expect((await pool.readReport(ep[0]!)).myId).toBe(before);
    expect(await problemsOf(harness, 3, 1)).toEqual([]);
  });

  it('reports unreachable nodes instead of half-forming', async () => {
    harness = await startRedisNodes(3);
    pool = new RedisPool({ connectTimeoutMs: 500 });
    const desired = harness.desiredNodes();
    await harness.kill(2);
    const result = await ensureCreated(pool, desired, evenCreatePlan(desired, 3, 0));
    expect(result.done).toBe(false);
    expect(result.problems.map((p) => p.code)).toEqual(['unreachable']);
    expect(result.actions).toEqual([]);
  });
});
