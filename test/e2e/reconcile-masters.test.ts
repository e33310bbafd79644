// masters 3 -> 4 -> 3 through kubectl patch: reconcile adds a shard and asks for a reshard, the
// reshard function fills it; scaling in, the reshard drains one and reconcile removes its Pods.
import { describe, expect, it } from 'vitest';
import { applyCluster, clusterClient, clusterPods, countKeys, eventually, statusNodes, useE2E, waitForReady, writeKeys } from '../helpers/e2e.js';

const NS = 'masters';
const NAME = 'grown';
const e2e = useE2E({ namespaces: [NS] }, async (e) => void (await applyCluster(e, { name: NAME, namespace: NS, ports: 8 })), 200_000);

const owners = (obj: Parameters<typeof statusNodes>[0]) => statusNodes(obj).filter((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0);

describe('reconcile: masters', () => {
  it('3 -> 4 -> 3 masters keeps every key and ends with the Pods of the kept shards only', async () => {
    const ready = await waitForReady(e2e, NS, NAME, 60_000, 6);
    const client = clusterClient(ready);
    await writeKeys(client, 'masters', 2000);
    client.disconnect();

    const up = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"masters":4}}']);
    expect(up.code, up.stderr).toBe(0);
    const four = await eventually('4 masters owning slots', async () => {
      const o = await waitForReady(e2e, NS, NAME, 240_000, 8);
      return owners(o).length === 4 ? o : undefined;
    }, 240_000, 1000);
    const c4 = clusterClient(four);
    expect(await countKeys(c4, 'masters', 2000)).toBe(2000);
    c4.disconnect();

    const down = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"masters":3}}']);
    expect(down.code, down.stderr).toBe(0);
    const three = await eventually('3 masters and 6 Pods', async () => {
      const o = await waitForReady(e2e, NS, NAME, 240_000, 6);
      return owners(o).length === 3 && (await clusterPods(e2e, NS, NAME)).length === 6 ? o : undefined;
    }, 240_000, 1000);
    const c3 = clusterClient(three);
    expect(await countKeys(c3, 'masters', 2000)).toBe(2000);
    c3.disconnect();
  }, 600_000);
});
