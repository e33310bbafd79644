import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import { slotSignature } from '../../shared/redis/executor/create.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { keySlot, waitFor } from '../../shared/redis/executor/util.js';
import { countSlots } from '../../shared/redis/topology.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { keyName, verifyKeys } from '../helpers/redis-harness.js';

const KEYS = 20_000;

describe('heal: a shard lost entirely', () => {
  it('reports the uncovered slots and changes nothing without allowDataLoss; re-covers them empty with it', async () => {
    const { harness: h, pool: p, desired: all, ids } = await formCluster({ nodes: 6, masters: 3, replicas: 1, keys: KEYS });

    // Master 0 (slots 0-5461) and its replica 3 die and their disks are gone.
    await h.kill(0);
    await h.kill(3);
    rmSync(h.nodes[0]!.dir, { recursive: true, force: true });
    rmSync(h.nodes[3]!.dir, { recursive: true, force: true });
    const survivors = all.filter((_, i) => i !== 0 && i !== 3);
    const survivorEps = survivors.map((d) => ({ ip: d.ip, port: d.port }));
    await waitFor('the cluster to mark the lost master fail', 20_000, async () => {
      const { reports } = await p.readAll(survivorEps);
      return reports.every((r) => r.nodes.find((n) => n.id === ids[0])?.flags.includes('fail')) ? true : undefined;
    });
    const before = await p.readAll(survivorEps);

    const refused = await heal(p, survivors, { replicasPerMaster: 1 });
    expect(refused.actions).toEqual([]);
    expect(refused.done).toBe(false);
    const uncovered = refused.problems.find((pr) => pr.code === 'slots-uncovered');
    expect(uncovered?.message).toMatch(/^5461 slots \(0-5460\)/);
    // Nothing changed: same nodes known, same slot map, the dead ids still listed.
    const after = await p.readAll(survivorEps);
    for (const [i, r] of after.reports.entries()) {
      expect(slotSignature(r)).toBe(slotSignature(before.reports[i]!));
      expect(r.nodes.map((n) => n.id).sort()).toEqual(before.reports[i]!.nodes.map((n) => n.id).sort());
      expect(r.clusterState).toBe('fail');
    }

    const recovered = await heal(p, survivors, { replicasPerMaster: 1, allowDataLoss: true, masters: 2 });
    const warning = recovered.actions.filter((a) => a.kind === 'slots-recovered-empty');
    expect(warning.reduce((n, a) => n + countSlots(a.slots ?? []), 0)).toBe(5461);
    // Slots 0-5460 had only a right neighbour (5461-10922, master 1), so master 1 takes them all.
    expect(warning.map((a) => a.nodeId)).toEqual([ids[1]]);
    expect(
      recovered.actions
        .filter((a) => a.kind === 'forget')
        .map((a) => a.nodeId)
        .sort(),
    ).toEqual([ids[0], ids[3]].sort());
    expect(recovered.problems).toEqual([]);
    expect(recovered.done).toBe(true);

    const { reports } = await p.readAll(survivorEps);
    expect(checkCluster(reports, { nodes: survivors, masters: 2, replicasPerMaster: 1 })).toEqual([]);
    for (const r of reports) {
      expect(r.clusterInfo['cluster_known_nodes']).toBe('4');
      expect(r.nodes.some((n) => n.id === ids[0] || n.id === ids[3])).toBe(false);
    }

    // Keys of the surviving shards are all there; the lost shard's keys are gone, and only those.
    const keys = Array.from({ length: KEYS }, (_, i) => keyName('key', i));
    const lost = keys.filter((k) => keySlot(k) <= 5460);
    const kept = keys.filter((k) => keySlot(k) > 5460);
    const c2 = h.cluster();
    try {
      expect(await verifyKeys(c2, kept.length, 40, 'key', kept)).toMatchObject({ missing: 0, wrong: 0 });
      expect((await verifyKeys(c2, lost.length, 40, 'key', lost)).missing).toBe(lost.length);
      // The re-covered slots take writes again.
      expect(await c2.set(lost[0]!, 'again')).toBe('OK');
    } finally {
      c2.disconnect();
    }
  });
});
