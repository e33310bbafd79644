// masters 3 -> 4 -> 3 through kubectl patch: reconcile adds a shard and asks for a reshard, the
// reshard function fills it; scaling in, the reshard drains one and reconcile removes its Pods.
// Then 3 -> 4 with the scheduler down: the reshard is asked for while the new Pods are Pending,
// waits for them, and fills the new shard once they run.
import { describe, expect, it } from 'vitest';
import {
  applyCluster,
  clusterClient,
  clusterPods,
  condition,
  countKeys,
  eventually,
  statusNodes,
  useE2E,
  waitForReady,
  writeKeys,
} from '../helpers/e2e.js';

const NS = 'masters';
const NAME = 'grown';
const e2e = useE2E({ namespaces: [NS] }, async (e) => void (await applyCluster(e, { name: NAME, namespace: NS, ports: 8 })), 200_000);

const owners = (obj: Parameters<typeof statusNodes>[0]) =>
  statusNodes(obj).filter((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0);

async function patchMasters(masters: number): Promise<void> {
  const res = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', JSON.stringify({ spec: { masters } })]);
  expect(res.code, res.stderr).toBe(0);
}

/** Ready with `masters` slot owners and `pods` Pods, every key written earlier still there. */
async function readyWithEveryKey(masters: number, pods: number): Promise<void> {
  const ready = await eventually(
    `${masters} masters and ${pods} Pods`,
    async () => {
      const o = await waitForReady(e2e, NS, NAME, 240_000, pods);
      return owners(o).length === masters && (await clusterPods(e2e, NS, NAME)).length === pods ? o : undefined;
    },
    240_000,
    1000,
  );
  const client = clusterClient(ready);
  try {
    expect(await countKeys(client, 'masters', 2000)).toBe(2000);
  } finally {
    client.disconnect();
  }
}

describe('reconcile: masters', () => {
  it('3 -> 4 -> 3 masters keeps every key and ends with the Pods of the kept shards only', async () => {
    const ready = await waitForReady(e2e, NS, NAME, 60_000, 6);
    const client = clusterClient(ready);
    await writeKeys(client, 'masters', 2000);
    client.disconnect();

    await patchMasters(4);
    await readyWithEveryKey(4, 8);
    await patchMasters(3);
    await readyWithEveryKey(3, 6);
  }, 600_000);

  it('a scale-out asks for its reshard while the new Pods are Pending, and fills them once they run', async () => {
    await waitForReady(e2e, NS, NAME, 60_000, 6);
    const pending = async () =>
      (await clusterPods(e2e, NS, NAME)).filter((p) => !(p.spec as { nodeName?: string }).nodeName).map((p) => p.metadata!.name!);
    e2e.platform.scheduler.pause();
    try {
      await patchMasters(4);
      const requested = await eventually(
        'the reshard requested while the new Pods are Pending',
        async () => {
          const cr = await e2e.getCluster(NS, NAME);
          const c = condition(cr, 'Resharding');
          const waiting = await pending();
          return cr && c?.status === 'True' && c.reason === 'Requested' && waiting.length === 2 ? { cr, waiting } : undefined;
        },
        30_000,
        200,
      );
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
    await readyWithEveryKey(4, 8);
  }, 400_000);
});
