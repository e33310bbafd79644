import { describe, expect, it } from 'vitest';
import { checkCluster } from '../../shared/redis/check.js';
import type { RedisPool } from '../../shared/redis/connection.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { verifyKeys, type Harness } from '../helpers/redis-harness.js';

const KEYS = 5000;

/** A 3x1 cluster whose nodes keep their data across a graceful restart (AOF) and fail over fast. */
async function threeByOne(): Promise<{ h: Harness; p: RedisPool; ids: string[] }> {
  const { harness: h, pool: p, ids } = await formCluster({ nodes: 6, masters: 3, replicas: 1, config: { appendonly: 'yes' }, keys: KEYS });
  return { h, p, ids };
}

async function expectHealthy(h: Harness, p: RedisPool, ids: string[]): Promise<void> {
  const { reports, unreachable } = await p.readAll(h.endpoints);
  expect(unreachable).toEqual([]);
  expect(checkCluster(reports, { nodes: h.desiredNodes(), masters: 3, replicasPerMaster: 1 })).toEqual([]);
  // Same identities, now at their new addresses.
  expect(reports.map((r) => r.myId)).toEqual(ids);
  const cluster = h.cluster();
  try {
    expect(await verifyKeys(cluster, KEYS, 40)).toMatchObject({ missing: 0, wrong: 0 });
  } finally {
    cluster.disconnect();
  }
}

describe('heal: nodes whose address changed', () => {
  it('converges (re-meeting where needed) after a master restarted with its nodes.conf on another loopback address', async () => {
    const { h, p, ids } = await threeByOne();
    await h.kill(1, 'SIGTERM');
    await h.restart(1, { ip: '127.0.0.2' });
    expect(h.endpoints[1]!.ip).toBe('127.0.0.2');

    const result = await heal(p, h.desiredNodes(), { replicasPerMaster: 1, masters: 3 });
    // The restarted node announces its new address itself, so gossip may already have fixed it;
    // whatever heal did must be MEETs only.
    expect(result.actions.every((a) => a.kind === 'meet')).toBe(true);
    expect(result.problems).toEqual([]);
    expect(result.done).toBe(true);
    await expectHealthy(h, p, ids);
    // Every node lists node 1 at its new address.
    for (const r of (await p.readAll(h.endpoints)).reports) {
      const line = r.nodes.find((n) => n.id === ids[1]);
      expect(`${line?.ip}:${line?.port}`).toBe(`127.0.0.2:${h.endpoints[1]!.port}`);
    }
    // Healing a healed cluster does nothing.
    const again = await heal(p, h.desiredNodes(), { replicasPerMaster: 1, masters: 3 });
    expect(again.actions).toEqual([]);
    expect(again.done).toBe(true);
  });

  it('recovers a cluster where every node restarted on a new address', async () => {
    const { h, p, ids } = await threeByOne();
    await Promise.all(h.nodes.map((_, i) => h.kill(i, 'SIGTERM')));
    for (let i = 0; i < h.nodes.length; i++) await h.restart(i, { ip: '127.0.0.3' });
    // Nobody can reach anybody at the addresses in their nodes.conf.
    const stuck = await p.readAll(h.endpoints);
    expect(stuck.reports.every((r) => r.clusterState !== 'ok' || r.nodes.some((n) => n.ip !== '127.0.0.3'))).toBe(true);

    const result = await heal(p, h.desiredNodes(), { replicasPerMaster: 1, masters: 3 });
    expect(result.actions.filter((a) => a.kind === 'meet').length).toBeGreaterThan(0);
    expect(result.problems).toEqual([]);
    expect(result.done).toBe(true);
    await expectHealthy(h, p, ids);
  });
});
