// A replica of a replica: a new node told to REPLICATE a master that has just failed over (the
// failed master is still a master in its view, with no slots) keeps following it when it rejoins
// as a replica of its successor. No slot change ever reaches the new node, so Redis never moves it;
// its shard's master counts one replica short and no fresh node is left to make up for it. Heal
// must re-point the chained replica to the master its own master follows.
import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { verifyKeys } from '../helpers/redis-harness.js';

const KEYS = 5_000;

describe('heal: a replica chained behind a replica', () => {
  it('re-points it to the master of its master, and the cluster checks clean', async () => {
    // Masters 0-2, node 3+i replicates master i; node 6 is fresh.
    const { harness: h, pool: p, ids, desired } = await formCluster({ nodes: 7, members: 6, masters: 3, replicas: 1, keys: KEYS });
    const fresh = h.endpoints[6]!;
    await p.call(fresh, 'CLUSTER', 'MEET', h.endpoints[1]!.ip, h.endpoints[1]!.port);
    await waitFor('the fresh node to know master 0', 20_000, async () =>
      (await p.readReport(fresh)).nodes.some((n) => n.id === ids[0] && !n.flags.includes('handshake')) ? true : undefined,
    );
    await h.kill(0);
    await waitFor('node 3 promoted in the fresh node view', 30_000, async () => {
      const nodes = (await p.readReport(fresh)).nodes;
      return nodes.find((n) => n.id === ids[3])?.role === 'master' && nodes.find((n) => n.id === ids[0])?.slots.length === 0
        ? true
        : undefined;
    });
    // Told to replicate the old master, as a step planned a moment before the failover would.
    await p.call(fresh, 'CLUSTER', 'REPLICATE', ids[0]!);
    await h.restart(0);
    await waitFor('node 0 back as a replica of node 3, node 6 still following node 0', 30_000, async () => {
      const zero = (await p.readReport(h.endpoints[0]!)).nodes.find((n) => n.id === ids[0]);
      const six = (await p.readReport(fresh)).nodes.find((n) => n.id === ids[6]);
      return zero?.masterId === ids[3] && six?.masterId === ids[0] ? true : undefined;
    });

    const result = await heal(p, desired, { masters: 3, settleMs: 0 });
    expect(result.actions.some((a) => a.kind === 'replicate' && a.nodeId === ids[6])).toBe(true);
    await waitFor('node 6 synced from node 3', 30_000, async () => {
      const r = await p.readReport(fresh);
      const me = r.nodes.find((n) => n.id === r.myId);
      return me?.masterId === ids[3] && r.replication['master_link_status'] === 'up' ? true : undefined;
    });
    // Gossip tells the others of the new parent within a few heartbeats.
    const clean = await waitFor('the cluster to check clean', 20_000, async () => {
      const { reports } = await p.readAll(h.endpoints);
      return checkCluster(reports, { nodes: desired, masters: 3 }).length === 0 ? true : undefined;
    }).catch((err: Error) => err.message);
    expect(clean).toBe(true);
    const cluster = h.cluster();
    try {
      expect(await verifyKeys(cluster, KEYS, 40)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
  }, 120_000);
});
