// A node that comes back on another address with its nodes.conf is re-joined, not re-created.
import { afterEach, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { evenCreatePlan, loadKeys, startRedisNodes, verifyKeys, type Harness } from '../helpers/redis-harness.js';

let harness: Harness | undefined;
let pool: RedisPool | undefined;

afterEach(async () => {
  await pool?.close();
  await harness?.stop();
});

it('re-joins a master restarted on a new address, keeping its id and its keys', async () => {
  harness = await startRedisNodes(3, { config: { 'cluster-node-timeout': '2000', save: '60 1' } });
  pool = new RedisPool({ connectTimeoutMs: 500 });
  const desired = harness.desiredNodes();
  const plan = evenCreatePlan(desired, 3, 0);
  expect((await ensureCreated(pool, desired, plan)).done).toBe(true);
  const cluster = harness.cluster();
  await loadKeys(cluster, 3000, 16);
  cluster.disconnect();
  const id = (await pool.readReport(harness.endpoints[1]!)).myId;
  // Persist the data so the restarted master keeps its keys.
  await pool.call(harness.endpoints[1]!, 'SAVE');
  await harness.restart(1, { ip: '127.0.0.2' });

  const moved = harness.desiredNodes();
  const result = await ensureCreated(pool, moved, evenCreatePlan(moved, 3, 0));
  expect(result.done).toBe(true);
  // The others may already have learned the new address from the node's own pings; otherwise a
  // MEET fixes it. Nothing else is done: no slots, no epochs, no reset.
  expect(result.actions.filter((a) => a.kind !== 'meet')).toEqual([]);
  const { reports } = await pool.readAll(harness.endpoints);
  expect(checkCluster(reports, { nodes: moved, masters: 3, replicasPerMaster: 0 })).toEqual([]);
  for (const r of reports) expect(r.nodes.find((n) => n.id === id)!.ip).toBe('127.0.0.2');
  const after = harness.cluster();
  expect(await verifyKeys(after, 3000, 16)).toMatchObject({ missing: 0, wrong: 0 });
  after.disconnect();
});
