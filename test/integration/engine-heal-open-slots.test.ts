import { describe, expect, it } from 'vitest';
import { checkCluster, slotOwners } from '../../shared/redis/check.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { verifyKeys } from '../helpers/redis-harness.js';

const KEYS = 20_000;

describe('heal: a slot left open by an interrupted migration', () => {
  it('rolls it forward to the target, keys moved or not', async () => {
    const { harness: h, pool: p, desired: all, ids } = await formCluster({ nodes: 6, masters: 3, replicas: 1, keys: KEYS });

    // Slot 100 belongs to master 0; a migration to master 1 was opened and moved a few keys, then died.
    const slot = 100;
    const [src, dst] = [h.endpoints[0]!, h.endpoints[1]!];
    const inSlot = Number(await p.call(src, 'CLUSTER', 'COUNTKEYSINSLOT', slot));
    expect(inSlot).toBeGreaterThan(1);
    await p.call(dst, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[0]!);
    await p.call(src, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[1]!);
    const some = (await p.call(src, 'CLUSTER', 'GETKEYSINSLOT', slot, Math.floor(inSlot / 2))) as string[];
    await p.call(src, 'MIGRATE', dst.ip, dst.port, '', 0, 5000, 'KEYS', ...some);
    expect(Number(await p.call(dst, 'CLUSTER', 'COUNTKEYSINSLOT', slot))).toBe(some.length);

    const result = await heal(p, all, { replicasPerMaster: 1, masters: 3 });
    expect(result.actions.length).toBeGreaterThan(0);
    expect(result.problems).toEqual([]);
    expect(result.done).toBe(true);

    const { reports } = await p.readAll(h.endpoints);
    expect(checkCluster(reports, { nodes: all, masters: 3, replicasPerMaster: 1 })).toEqual([]);
    for (const r of reports) expect(slotOwners(r.nodes)[slot]).toBe(ids[1]);
    expect(Number(await p.call(dst, 'CLUSTER', 'COUNTKEYSINSLOT', slot))).toBe(inSlot);
    expect(Number(await p.call(src, 'CLUSTER', 'COUNTKEYSINSLOT', slot))).toBe(0);
    const check = h.cluster();
    try {
      expect(await verifyKeys(check, KEYS, 40)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      check.disconnect();
    }
  });
});
