// The `WAIT 1` ledger client during a migration: every slot of one master is MIGRATING to the
// other, so each new key's SET is answered with ASK. The ledger must send its SET and its WAIT to
// the importing master (after ASKING) and count the write once that master's replica has it.
import { describe, expect, it } from 'vitest';
import { formCluster } from '../helpers/engine-fixture.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger } from '../helpers/timed-ledger.js';

describe('the WAIT 1 ledger', () => {
  it('follows ASK with SET and WAIT on the importing master: every write acknowledged by its replica, none failed', async () => {
    // Nodes 0 and 1 are the masters, 2 and 3 their replicas.
    const { harness: h, pool: p, ids } = await formCluster({ nodes: 4, masters: 2, replicas: 1 });
    const source = h.endpoints[0]!;
    const slots = (await p.readReport(source)).nodes.find((n) => n.id === ids[0])!.slots;
    const opened: number[] = [];
    for (const { start, end } of slots) for (let s = start; s <= end; s++) opened.push(s);
    const target1 = h.client(1);
    const source1 = h.client(0);
    try {
      await target1.pipeline(opened.map((s) => ['cluster', 'setslot', String(s), 'importing', ids[0]!])).exec();
      await source1.pipeline(opened.map((s) => ['cluster', 'setslot', String(s), 'migrating', ids[1]!])).exec();

      const ledger = await startTimedLedger(h.endpoints, 100, 'w', 300, { wait: true });
      await new Promise((r) => setTimeout(r, 3000));
      const result = await ledger.stop();

      expect(result.failures).toEqual({});
      expect(result.wrongReads).toBe(0);
      const asked = result.writes.filter((w) => opened.includes(w.slot));
      expect(asked.length).toBeGreaterThan(50);
      // The ASKed keys are on the importing master's replica (WAIT said so), and not on the source.
      const askedKeys = asked.map((w) => `w:${w.n}`);
      const replicaIndex = (await Promise.all(h.endpoints.map((e) => p.readReport(e)))).findIndex(
        (r) => r.nodes.find((n) => n.id === r.myId)?.masterId === ids[1],
      );
      const replica = h.client(replicaIndex);
      try {
        const held = new Set(await replica.keys('w:*'));
        expect(askedKeys.filter((k) => !held.has(k))).toEqual([]);
      } finally {
        replica.disconnect();
      }
      const onSource = new Set(await source1.keys('w:*'));
      expect(askedKeys.filter((k) => onSource.has(k))).toEqual([]);
      const client = h.cluster();
      try {
        expect(
          await missingWrites(
            client,
            result.writes.map((w) => w.n),
            'w',
          ),
        ).toEqual([]);
      } finally {
        client.disconnect();
      }
    } finally {
      target1.disconnect();
      source1.disconnect();
    }
  }, 60_000);
});
