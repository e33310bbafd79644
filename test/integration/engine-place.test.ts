import { describe, expect, it } from 'vitest';
import { placeShards } from '../../shared/redis/executor/place.js';
import { isFreshNode } from '../../shared/redis/view.js';
import { formCluster } from '../helpers/engine-fixture.js';

describe('placing fresh nodes shard by shard', () => {
  it("joins a new shard's first node as an empty master and the next as its replica, and a replica to an existing master", async () => {
    // Nodes 0-2 form a 3-master cluster; 3-5 start fresh.
    const { pool, desired, endpoints, ids } = await formCluster({ nodes: 6, members: 3, masters: 3 });
    const node = (i: number) => ({ name: desired[i]!.name, endpoint: endpoints[i]!, busPort: desired[i]!.busPort });
    const fresh3 = await pool.readReport(endpoints[3]!);
    const result = await placeShards(
      pool,
      [
        // Node 4 is not known to have answered: it is waited for briefly.
        { shard: 3, nodes: [{ ...node(3), report: fresh3 }, node(4)] },
        {
          shard: 0,
          master: { name: desired[0]!.name, id: ids[0]!, endpoint: endpoints[0]!, busPort: desired[0]!.busPort },
          nodes: [node(5)],
        },
      ],
      { seed: endpoints[1]!, answerWaitMs: 2000 },
    );
    expect(result.failures).toEqual([]);
    expect(result.actions.filter((a) => a.kind === 'meet').map((a) => a.message)).toEqual([
      `${desired[3]!.name} joined as an empty master of shard 3`,
    ]);
    expect(
      result.actions
        .filter((a) => a.kind === 'replicate')
        .map((a) => a.message)
        .sort(),
    ).toEqual(
      [
        `${desired[4]!.name} attached as a replica of ${desired[3]!.name} (shard 3)`,
        `${desired[5]!.name} attached as a replica of ${desired[0]!.name} (shard 0)`,
      ].sort(),
    );
    const [r3, r4, r5] = await Promise.all([3, 4, 5].map((i) => pool.readReport(endpoints[i]!)));
    const self = (r: typeof r3) => r!.nodes.find((v) => v.id === r!.myId)!;
    expect(isFreshNode(r3!)).toBe(false);
    expect(self(r3)).toMatchObject({ role: 'master', slots: [] });
    expect(self(r4)).toMatchObject({ role: 'replica', masterId: ids[3] });
    expect(self(r5)).toMatchObject({ role: 'replica', masterId: ids[0] });
  }, 60_000);

  it('leaves alone a node that is not fresh and reports a shard whose master cannot join', async () => {
    const { pool, desired, endpoints } = await formCluster({ nodes: 4, members: 3, masters: 3 });
    const member = await pool.readReport(endpoints[1]!);
    const result = await placeShards(
      pool,
      [{ shard: 5, nodes: [{ name: desired[1]!.name, endpoint: endpoints[1]!, busPort: desired[1]!.busPort, report: member }] }],
      { seed: endpoints[0]!, answerWaitMs: 500 },
    );
    expect(result).toEqual({ actions: [], failures: [] });
    // A seed that does not answer: the MEET goes out but the join is never seen.
    const fresh = await pool.readReport(endpoints[3]!);
    const stuck = await placeShards(
      pool,
      [{ shard: 6, nodes: [{ name: desired[3]!.name, endpoint: endpoints[3]!, busPort: desired[3]!.busPort, report: fresh }] }],
      { seed: { ip: '127.0.0.1', port: 1 }, answerWaitMs: 500, joinTimeoutMs: 1000 },
    );
    expect(stuck.actions).toEqual([]);
    expect(stuck.failures).toHaveLength(1);
    expect(stuck.failures[0]).toMatchObject({ shard: 6 });
    expect(stuck.failures[0]!.node).toBeUndefined();
  }, 60_000);
});
