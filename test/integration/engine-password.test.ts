import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { rotatePasswordFully } from '../../shared/redis/executor/password.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { authReply } from '../helpers/auth.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger } from '../helpers/timed-ledger.js';

describe('password rotation of the default user', () => {
  it('under a fixed-rate writer: no failed command, the new password opens and the old one is refused, replication survives a failover', async () => {
    const { pool, endpoints } = await formCluster({ nodes: 6, masters: 3, replicas: 1, password: 'old-pw' });
    // Connected with the old password before the switch: such clients stay logged in after it.
    const ledger = await startTimedLedger(endpoints, 200, 'rot', 1000, { auth: { password: 'old-pw' } });
    await sleep(1000);

    const plans = await rotatePasswordFully(pool, endpoints, 'new-pw');
    expect(plans.map((p) => p.phase)).toEqual(['add', 'masterauth', 'drop', 'done']);
    const droppedAt = Date.now();
    for (const e of endpoints) {
      expect(await authReply(e, 'new-pw'), `new password on ${e.port}`).toBe('+OK');
      expect(await authReply(e, 'old-pw'), `old password on ${e.port}`).toMatch(/^-WRONGPASS/);
    }

    await sleep(1000);
    const result = await ledger.stop();
    const afterDrop = result.writes.filter((w) => w.sentAt > droppedAt).length;
    expect(result.failures).toEqual({});
    expect(result.wrongReads).toBe(0);
    // The writer's connections, opened with the old password, kept working once it was dropped.
    expect(afterDrop).toBeGreaterThan(150);
    const client = new Cluster(
      endpoints.map((e) => ({ host: e.ip, port: e.port })),
      { redisOptions: { password: 'new-pw' } },
    );
    try {
      expect(
        await missingWrites(
          client,
          result.writes.map((w) => w.n),
          'rot',
        ),
      ).toEqual([]);
    } finally {
      client.disconnect();
    }
    // A replica taking over makes its old master sync from it: masterauth must be the new password.
    // After the writer: the failover makes clients open new connections, which need the new password.
    const reports = (await pool.readAll(endpoints)).reports;
    const replica = reports.find((r) => r.replication['role'] === 'slave')!;
    const formerMaster = endpoints.find((e) => e.port === Number(replica.replication['master_port']))!;
    await pool.call(replica.address, 'CLUSTER', 'FAILOVER');
    await waitFor('the former master replicating from its replica', 15_000, async () => {
      const info = String(await pool.call(formerMaster, 'INFO', 'replication'));
      return /role:slave/.test(info) && /master_link_status:up/.test(info) ? true : undefined;
    });
    console.log(
      `rotation: ${result.writes.length} writes acknowledged (${afterDrop} after the old password was dropped), 0 failed, 0 missing`,
    );
  }, 90_000);
});
