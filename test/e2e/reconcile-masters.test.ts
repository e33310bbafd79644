// masters 3 -> 4 -> 3 through kubectl patch: reconcile adds a shard and asks for a reshard, the
// reshard function fills it; scaling in, the reshard drains one and reconcile removes its Pods.
// Then 3 -> 4 with the scheduler down: the reshard is asked for while the new Pods are Pending,
// waits for them, and fills the new shard once they run.
import { describe, expect, it } from 'vitest';
import { applyCluster, clusterClient, clusterPods, condition, countKeys, eventually, statusNodes, useE2E, waitForReady, writeKeys } from '../helpers/e2e.js';

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

  it('a scale-out asks for its reshard while the new Pods are Pending, and fills them once they run', async () => {
    await waitForReady(e2e, NS, NAME, 60_000, 6);
    const pending = async () => (await clusterPods(e2e, NS, NAME)).filter((p) => !(p.spec as { nodeName?: string }).nodeName).map((p) => p.metadata!.name!);
    e2e.platform.scheduler.pause();
    try {
      const up = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"masters":4}}']);
      expect(up.code, up.stderr).toBe(0);
      const requested = await eventually('the reshard requested while the new Pods are Pending', async () => {
        const cr = await e2e.getCluster(NS, NAME);
        const c = condition(cr, 'Resharding');
        const waiting = await pending();
        return cr && c?.status === 'True' && c.reason === 'Requested' && waiting.length === 2 ? { cr, waiting } : undefined;
      }, 30_000, 200);
      expect(owners(requested.cr)).toHaveLength(3);
      // Longer than the reshard function waits for the Lease: it answers busy, and the Trigger's
      // retries bring the request back. Nothing moves while the shard has no node.
      await new Promise((r) => setTimeout(r, 12_000));
      expect(await pending()).toEqual(requested.waiting);
      const cr = await e2e.getCluster(NS, NAME);
      expect(owners(cr!)).toHaveLength(3);
      expect((cr!.status as { reshard?: { state?: string } }).reshard?.state).not.toBe('Running');
    } finally {
      e2e.platform.scheduler.resume();
    }
    const four = await eventually('4 masters owning slots', async () => {
      const o = await waitForReady(e2e, NS, NAME, 240_000, 8);
      return owners(o).length === 4 ? o : undefined;
    }, 240_000, 1000);
    const c4 = clusterClient(four);
    expect(await countKeys(c4, 'masters', 2000)).toBe(2000);
    c4.disconnect();
  }, 400_000);
});
