import { afterEach, describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import { ensureReplicas, isFreshNode } from '../../shared/redis/executor/replicas.js';
import { evenCreatePlan, loadKeys, startClientLoad, startRedisNodes, verifyAcked, verifyKeys, type Harness } from '../helpers/redis-harness.js';

let harness: Harness | undefined;
let pool: RedisPool | undefined;

afterEach(async () => {
  await pool?.close();
  await harness?.stop();
  pool = undefined;
  harness = undefined;
});

const KEYS = 100_000;
const VALUE = 32;

describe('replica changes on a 3-master cluster', () => {
  it('goes 1 -> 2 -> 0 -> 1 replicas per master under client load, losing no key and no write', async () => {
    const h = await startRedisNodes(9, { config: { 'cluster-node-timeout': '2000' } });
    const p = new RedisPool();
    harness = h;
    pool = p;
    const all = h.desiredNodes();
    expect((await ensureCreated(p, all.slice(0, 6), evenCreatePlan(all.slice(0, 6), 3, 1))).done).toBe(true);
    const seedCluster = h.cluster();
    await loadKeys(seedCluster, KEYS, VALUE);
    seedCluster.disconnect();
    const masterIds = await Promise.all(h.endpoints.slice(0, 3).map(async (e) => (await p.readReport(e)).myId));

    const step = async (replicasPerMaster: number) => {
      const load = startClientLoad(h.endpoints.slice(0, 3));
      await new Promise((r) => setTimeout(r, 300));
      const result = await ensureReplicas(p, all, { replicasPerMaster, timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 300));
      const { ops, failures, acked } = await load.stop();
      expect(result.problems).toEqual([]);
      expect(failures).toEqual([]);
      expect(ops).toBeGreaterThan(0);
      expect(await verifyAcked(load.client, acked)).toMatchObject({ missing: 0, wrong: 0 });
      load.client.disconnect();

      const { reports } = await p.readAll(h.endpoints);
      const members = reports.filter((r) => !isFreshNode(r));
      const memberAddrs = new Set(members.map((r) => `${r.address.ip}:${r.address.port}`));
      expect(members).toHaveLength(3 + 3 * replicasPerMaster);
      const problems = checkCluster(members, {
        nodes: all.filter((d) => memberAddrs.has(`${d.ip}:${d.port}`)),
        masters: 3,
        replicasPerMaster,
        domains: Object.fromEntries(all.map((d) => [`${d.ip}:${d.port}`, d.domain])),
      });
      expect(problems).toEqual([]);
      // The masters stayed the masters; every replica follows one of them.
      for (const r of members) {
        const self = r.nodes.find((n) => n.id === r.myId)!;
        if (self.role === 'master') expect(masterIds).toContain(r.myId);
        else expect(masterIds).toContain(self.masterId);
      }
      return result;
    };

    const up = await step(2);
    expect(up.actions.filter((a) => a.kind === 'replicate')).toHaveLength(3);
    const down = await step(0);
    expect(down.actions.filter((a) => a.kind === 'node-removed')).toHaveLength(6);
    expect(down.actions.filter((a) => a.kind === 'reset')).toHaveLength(6);
    const back = await step(1);
    expect(back.actions.filter((a) => a.kind === 'replicate')).toHaveLength(3);

    const check = h.cluster();
    try {
      expect(await verifyKeys(check, KEYS, VALUE)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      check.disconnect();
    }
  });
});
