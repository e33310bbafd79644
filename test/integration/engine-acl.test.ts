import { describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import { applyAcl, readAcl } from '../../shared/redis/executor/acl.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import { formCluster } from '../helpers/engine-fixture.js';

const app = { name: 'app', rules: 'on ~app:* +@all -@dangerous', passwords: ['app-secret'] };
const bad = { name: 'bad', rules: 'on ~* +nosuchcommand', passwords: ['x'] };

describe('ACL users on every node', () => {
  it('applies the users Redis accepts on masters and replicas, reports the refused one, restores a restarted node, deletes a removed user', async () => {
    const { harness, pool, endpoints } = await formCluster({ nodes: 6, masters: 3, replicas: 1 });

    const first = await applyAcl(pool, endpoints, [app, bad]);
    expect(first.unreachable).toEqual([]);
    expect(first.refused).toEqual([{ user: 'bad', reason: expect.stringMatching(/nosuchcommand/i) }]);
    for (const e of endpoints) expect([...(await readAcl(pool, e)).keys()].sort(), endpointKey(e)).toEqual(['app', 'default']);

    const client = new Cluster(
      endpoints.map((e) => ({ host: e.ip, port: e.port })),
      // INFO is @dangerous, so the ready check would only warn.
      { enableReadyCheck: false, redisOptions: { username: 'app', password: 'app-secret', enableReadyCheck: false } },
    );
    try {
      expect(await client.set('app:1', 'v')).toBe('OK');
      await expect(client.set('other:1', 'v')).rejects.toThrow(/NOPERM/);
      expect(await client.get('app:1')).toBe('v');
    } finally {
      client.disconnect();
    }

    // Nothing applied twice; a restarted node comes back without its users and alone gets them again.
    expect((await applyAcl(pool, endpoints, [app, bad])).applied.size).toBe(0);
    await harness.restart(4);
    const again = await applyAcl(pool, endpoints, [app]);
    expect([...again.applied.keys()]).toEqual([endpointKey(endpoints[4]!)]);

    const removed = await applyAcl(pool, endpoints, []);
    expect(removed.applied.size).toBe(endpoints.length);
    for (const e of endpoints) expect([...(await readAcl(pool, e)).keys()], endpointKey(e)).toEqual(['default']);
  }, 60_000);
});
