// A master whose Pod is being deleted still answers for a moment (its redis-server has not had its
// SIGTERM yet, or is waiting for its replicas). Heal must hand its shard over gracefully then: a
// FORCE promotion beside a master that still takes writes drops what the master acknowledged past
// the replica's offset.
import { describe, expect, it } from 'vitest';
import { heal } from '../../shared/redis/executor/heal.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { startClientLoad, verifyAcked } from '../helpers/redis-harness.js';

describe('heal: a master whose Pod is leaving', () => {
  it('hands its shard to its replica with a graceful failover under load, losing no acknowledged write', async () => {
    const { harness: h, pool: p, ids } = await formCluster({ nodes: 6, masters: 3, replicas: 1, keys: 2000 });
    const load = startClientLoad(h.endpoints);
    await new Promise((r) => setTimeout(r, 300));
    // Node 0 (a master, node 3 its replica) is no longer desired: its Pod is terminating.
    const desired = h.desiredNodes().filter((_, i) => i !== 0);
    const result = await heal(p, desired, { masters: 3, leaving: [h.endpoints[0]!], settleMs: 0 });
    await new Promise((r) => setTimeout(r, 300));
    const { ops, failures, acked } = await load.stop();

    const handover = result.actions.find((a) => a.kind === 'failover');
    expect(handover?.nodeId).toBe(ids[3]);
    expect(handover?.message).toMatch(/^graceful failover: .* before its Pod \(127\.0\.0\.1:\d+\) goes$/);
    const old = await p.readReport(h.endpoints[0]!);
    expect(old.nodes.find((n) => n.id === ids[0])).toMatchObject({ role: 'replica', masterId: ids[3] });
    expect(ops).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    expect(await verifyAcked(load.client, acked)).toMatchObject({ missing: 0, wrong: 0 });
    load.client.disconnect();
  });

  it('once the leaving master has exited, promotes its replica with FORCE at once', async () => {
    const { harness: h, pool: p, ids } = await formCluster({ nodes: 6, masters: 3, replicas: 1, keys: 2000 });
    await h.kill(1);
    const desired = h.desiredNodes().filter((_, i) => i !== 1);
    const result = await heal(p, desired, { masters: 3, leaving: [h.endpoints[1]!], settleMs: 0 });
    const promoted = result.actions.find((a) => a.kind === 'failover');
    expect(promoted?.nodeId).toBe(ids[4]);
    expect(promoted?.message).toMatch(/^force failover/);
  });
});
