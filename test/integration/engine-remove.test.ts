import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { checkCluster, ownersFromView } from '../../shared/redis/check.js';
import { mergedView } from '../../shared/redis/view.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { RemoveRefusedError, removeNode, removeReplica } from '../../shared/redis/executor/remove.js';
import { attachReplica } from '../../shared/redis/executor/replicas.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { planScaleIn } from '../../shared/redis/planner/reshard.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { evenCreatePlan, verifyKeys } from '../helpers/redis-harness.js';

const KEYS = 100_000;
const VALUE = 32;

describe('removing nodes', () => {
  it('removes a drained master (replica re-parented) and a dead replica; neither comes back after the 60 s ban', async () => {
    // Replica migration off: the drained master stays an empty master with its replica attached,
    // so re-parenting is the remover's job.
    const {
      harness: h,
      pool: p,
      desired: all,
      ids,
    } = await formCluster({
      nodes: 8,
      masters: 4,
      replicas: 1,
      config: { 'cluster-allow-replica-migration': 'no' },
      keys: KEYS,
      valueBytes: VALUE,
    });
    const domains = Object.fromEntries(all.map((d, i) => [ids[i]!, d.domain]));
    const drained = ids[3]!;
    const itsReplica = ids[7]!;
    const deadReplica = ids[4]!;

    // A master that owns slots is never removed.
    await expect(removeNode(p, drained, { endpoints: h.endpoints })).rejects.toBeInstanceOf(RemoveRefusedError);

    const { reports } = await p.readAll(h.endpoints);
    const plan = planScaleIn(ownersFromView(mergedView(reports)), [drained]);
    const migrated = await migrateSlots(p, plan.waves, { endpoints: h.endpoints });
    expect(migrated.done).toBe(true);
    const afterDrain = await p.readReport(h.endpoints[3]!);
    expect(afterDrain.nodes.find((n) => n.id === drained)).toMatchObject({ role: 'master', slots: [] });
    expect((await p.readReport(h.endpoints[7]!)).nodes.find((n) => n.id === itsReplica)?.masterId).toBe(drained);

    const removed = await removeNode(p, drained, { endpoints: h.endpoints, domains });
    expect(removed.actions.map((a) => a.kind)).toEqual(['replicate', 'forget', 'reset', 'node-removed']);
    const newMaster = (await p.readReport(h.endpoints[7]!)).nodes.find((n) => n.id === itsReplica)?.masterId;
    expect(newMaster).toBeDefined();
    expect([ids[0], ids[1], ids[2]]).toContain(newMaster);

    // A replica whose process is gone: only the FORGETs (nothing to reset).
    await h.kill(4);
    const gone = await removeReplica(p, deadReplica, { endpoints: h.endpoints });
    expect(gone.actions.map((a) => a.kind)).toEqual(['forget', 'node-removed']);

    const members = h.endpoints.filter((_, i) => i !== 3 && i !== 4);
    const memberNodes = all.filter((_, i) => i !== 3 && i !== 4);
    const expectGoneEverywhere = async () => {
      // The FORGETs and the re-parented replica reach every view by gossip: a bounded moment to settle.
      await waitFor(
        'the members to agree without the removed nodes',
        10_000,
        async () => {
          const { reports: now, unreachable } = await p.readAll(members);
          return unreachable.length === 0 && checkCluster(now, { nodes: memberNodes, masters: 3 }).length === 0 ? true : undefined;
        },
        250,
      ).catch(() => undefined);
      const { reports: now, unreachable } = await p.readAll(members);
      expect(unreachable).toEqual([]);
      for (const r of now) {
        expect(r.nodes.some((n) => n.id === drained || n.id === deadReplica)).toBe(false);
        expect(r.clusterInfo['cluster_known_nodes']).toBe('6');
      }
      expect(checkCluster(now, { nodes: memberNodes, masters: 3 })).toEqual([]);
    };
    await expectGoneEverywhere();
    // The removed master was wiped: a new identity that knows nobody and holds no key.
    const wiped = await p.readReport(h.endpoints[3]!);
    expect(wiped.myId).not.toBe(drained);
    expect(wiped.nodes).toHaveLength(1);
    expect(wiped.keys).toBe(0);

    // Not h.cluster(): the wiped node is running but no longer part of the cluster.
    const c = new Cluster(members.map((e) => ({ host: e.ip, port: e.port })));
    try {
      expect(await verifyKeys(c, KEYS, VALUE)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      c.disconnect();
    }

    // Past the 60 s FORGET ban, gossip has not brought either id back.
    await new Promise((r) => setTimeout(r, 65_000));
    await expectGoneEverywhere();
  }, 180_000);

  it('removes an empty master whose replica is dead, without waiting on the dead replica', async () => {
    // Nodes 0-5 form a 3x1 cluster, node 6 joins as a master with no slot, node 7 starts fresh.
    const {
      harness: h,
      pool: p,
      ids,
    } = await formCluster({
      nodes: 8,
      members: 7,
      masters: 3,
      plan: (members) => {
        const plan = evenCreatePlan(members.slice(0, 6), 3, 1);
        plan.masters.push({ node: members[6]!.name, slots: [] });
        return plan;
      },
    });
    const empty = ids[6]!;
    await attachReplica(p, h.endpoints[7]!, empty, { seed: h.endpoints[0]! });
    const replicaId = (await p.readReport(h.endpoints[7]!)).myId;
    // Everyone knows the replica before it dies, so its line (master: the empty one) stays in every view.
    await waitFor('every node to know the replica', 10_000, async () => {
      const { reports } = await p.readAll(h.endpoints.slice(0, 7));
      return reports.every((r) => r.nodes.find((n) => n.id === replicaId)?.masterId === empty) ? true : undefined;
    });
    await h.kill(7);

    const removed = await removeNode(p, empty, { endpoints: h.endpoints, timeoutMs: 10_000 });
    expect(removed.actions.map((a) => a.kind)).toEqual(['forget', 'reset', 'node-removed']);
    const { reports } = await p.readAll(h.endpoints.slice(0, 6));
    for (const r of reports) {
      expect(r.nodes.some((n) => n.id === empty)).toBe(false);
      // Whoever still lists the dead replica no longer has a master for it.
      expect(r.nodes.find((n) => n.id === replicaId)?.masterId).not.toBe(empty);
    }
    const wiped = await p.readReport(h.endpoints[6]!);
    expect(wiped.myId).not.toBe(empty);
    expect(wiped.nodes).toHaveLength(1);
  });
});
