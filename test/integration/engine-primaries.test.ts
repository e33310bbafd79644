import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { movePrimary } from '../../shared/redis/executor/primaries.js';
import type { NodeReport } from '../../shared/redis/types.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { verifyKeys } from '../helpers/redis-harness.js';

const self = (r: NodeReport) => r.nodes.find((v) => v.id === r.myId)!;

describe('moving a master to one of its replicas', () => {
  it('swaps the roles on every node with no key lost, and returns once the cluster reports clean', async () => {
    const { harness, pool, endpoints } = await formCluster({ nodes: 4, masters: 2, replicas: 1, keys: 2000 });
    const before = (await pool.readAll(endpoints)).reports;
    const replica = before.find((r) => self(r).role === 'replica')!;
    const master = before.find((r) => r.myId === self(replica).masterId)!;
    const slots = self(master).slots;

    const action = await movePrimary(pool, replica.address, { endpoints, timeoutMs: 5000 });
    expect(action).toMatchObject({ kind: 'failover', nodeId: replica.myId, slots });

    const after = (await pool.readAll(endpoints)).reports;
    expect(checkCluster(after)).toEqual([]);
    for (const r of after) {
      expect(
        r.nodes.find((v) => v.id === replica.myId),
        `as ${r.myId} sees the replica`,
      ).toMatchObject({ role: 'master', slots });
      expect(
        r.nodes.find((v) => v.id === master.myId),
        `as ${r.myId} sees the old master`,
      ).toMatchObject({
        role: 'replica',
        masterId: replica.myId,
      });
    }
    const cluster = harness.cluster();
    try {
      expect(await verifyKeys(cluster, 2000, 40)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
  }, 60_000);

  it('refuses a node that is not a replica and changes nothing', async () => {
    const { pool, endpoints } = await formCluster({ nodes: 4, masters: 2, replicas: 1 });
    const before = (await pool.readAll(endpoints)).reports;
    const master = before.find((r) => self(r).role === 'master' && self(r).slots.length > 0)!;
    await expect(movePrimary(pool, master.address, { endpoints, timeoutMs: 2000 })).rejects.toThrow(/is not a replica/);
    const after = (await pool.readAll(endpoints)).reports;
    expect(after.map((r) => [r.myId, self(r).role])).toEqual(before.map((r) => [r.myId, self(r).role]));
  }, 60_000);
});
