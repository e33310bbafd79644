import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { attachReplica, ensureReplicas } from '../../shared/redis/executor/replicas.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { isFreshNode } from '../../shared/redis/view.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { startClientLoad, verifyAcked, verifyKeys } from '../helpers/redis-harness.js';

const KEYS = 100_000;
const VALUE = 32;

describe('replica changes on a 3-master cluster', () => {
  it('goes 1 -> 2 -> 0 -> 1 replicas per master under client load, losing no key and no write', async () => {
    // Nodes 6-8 start fresh: the spare nodes replicas are added from.
    const {
      harness: h,
      pool: p,
      desired: all,
      ids,
    } = await formCluster({ nodes: 9, members: 6, masters: 3, replicas: 1, keys: KEYS, valueBytes: VALUE });
    const masterIds = ids.slice(0, 3);

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

  it('gives up attaching a replica to a master that has failed at once, not after the timeout', async () => {
    const { harness: h, pool: p, ids } = await formCluster({ nodes: 4, members: 3, masters: 3 });
    const fresh = h.endpoints[3]!;
    await p.call(fresh, 'CLUSTER', 'MEET', h.endpoints[1]!.ip, h.endpoints[1]!.port);
    await waitFor('the fresh node to know the three masters', 20_000, async () =>
      (await p.readReport(fresh)).nodes.filter((n) => ids.slice(0, 3).includes(n.id) && n.role === 'master').length === 3
        ? true
        : undefined,
    );
    await h.kill(0);
    await waitFor('the fresh node to see master 0 failed', 20_000, async () =>
      (await p.readReport(fresh)).nodes.find((n) => n.id === ids[0])?.flags.includes('fail') ? true : undefined,
    );
    const started = Date.now();
    await expect(attachReplica(p, fresh, ids[0]!, { seed: h.endpoints[1]!, timeoutMs: 60_000 })).rejects.toThrow(
      new RegExp(`gave up: master ${ids[0]} has failed`),
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 90_000);

  it('gives up attaching a replica whose own process is gone (its Pod deleted mid-sync), not after the timeout', async () => {
    const { harness: h, pool: p, ids } = await formCluster({ nodes: 4, members: 3, masters: 3 });
    const fresh = h.endpoints[3]!;
    // The master waits 30 s before a diskless transfer: the sync is still under way when the node dies.
    await p.call(h.endpoints[0]!, 'CONFIG', 'SET', 'repl-diskless-sync', 'yes', 'repl-diskless-sync-delay', '30');
    const attaching = attachReplica(p, fresh, ids[0]!, { seed: h.endpoints[1]!, timeoutMs: 60_000 });
    const outcome = attaching.then(
      () => 'attached',
      (err: Error) => err.message,
    );
    await waitFor('the fresh node to wait for its sync', 20_000, async () => {
      const r = await p.readReport(fresh);
      const self = r.nodes.find((n) => n.id === r.myId);
      return self?.masterId === ids[0] && r.replication['master_link_status'] === 'down' ? true : undefined;
    });
    const killed = Date.now();
    await h.kill(3);
    expect(await outcome).toMatch(/gave up: unreachable for \d+ ms/);
    expect(Date.now() - killed).toBeLessThan(15_000);
  }, 90_000);
});
