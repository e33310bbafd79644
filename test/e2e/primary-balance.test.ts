// Primary balance on the platform: failovers a person makes with CLUSTER FAILOVER pile two masters
// onto one virtual node; the operator moves masters back until each node holds one, records
// PrimaryMoved, and every write a client got acknowledged meanwhile reads back.
//
// Such failovers change no Kubernetes object, so no event brings a reconcile pass: the resync does
// (a PingSource, every minute in production, every 10 s on the test platform, see startE2E). The
// test waits for it instead of annotating the RedisCluster, which is what a person would see.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { applyCluster, clusterPods, eventually, statusNodes, useE2E, waitForReady, withClusterClient, withNode } from '../helpers/e2e.js';
import { missingWrites, startLedger } from '../helpers/ledger.js';

const NS = 'balance';
const NAME = 'balanced';
const RATE = 200;
const e2e = useE2E({ namespaces: [NS] });

interface ClusterEvent {
  reason?: string;
  message?: string;
  firstTimestamp?: string;
  lastTimestamp?: string;
  involvedObject?: { name?: string };
}

interface Placed {
  pod: string;
  id: string;
  ip: string;
  port: number;
  role: string;
  masterId?: string;
  machine: string;
}

/** Every node as its own CLUSTER NODES line says (role, master), on the Kubernetes node of its Pod. */
async function layout(ready: KubeObject): Promise<Placed[]> {
  const machineOf = new Map((await clusterPods(e2e, NS, NAME)).map((p) => [p.metadata!.name!, p.spec!.nodeName as string]));
  return Promise.all(
    statusNodes(ready).map(async (n) => {
      const nodes = await withNode(n, async (r) => String(await r.call('CLUSTER', 'NODES')));
      const self = nodes
        .split('\n')
        .find((l) => l.includes('myself'))!
        .split(' ');
      const role = self[2]!.includes('master') ? 'master' : 'replica';
      return { ...n, role, ...(role === 'replica' ? { masterId: self[3]! } : {}), machine: machineOf.get(n.pod)! };
    }),
  );
}

/** Masters per Kubernetes node. */
function mastersPerMachine(nodes: Placed[]): Map<string, number> {
  const held = new Map<string, number>();
  for (const n of nodes) held.set(n.machine, (held.get(n.machine) ?? 0) + (n.role === 'master' ? 1 : 0));
  return held;
}

/** A graceful CLUSTER FAILOVER on `replica`, as a person would run it, until it answers ROLE master. */
async function failover(replica: Placed): Promise<void> {
  await withNode(replica, (r) => r.call('CLUSTER', 'FAILOVER'));
  await eventually(
    `${replica.pod} to become master`,
    () => withNode(replica, async (r) => ((await r.call('ROLE')) as string[])[0] === 'master'),
    15_000,
    100,
  );
}

/** The replica on `machine` whose master runs on another machine, other than `not`. */
function replicaOn(nodes: Placed[], machine: string, not?: string): Placed | undefined {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return nodes.find(
    (n) =>
      n.role === 'replica' && n.machine === machine && byId.get(n.masterId!)?.machine !== machine && byId.get(n.masterId!)?.machine !== not,
  );
}

/**
 * A replica sharing a machine X with another master takes over: X holds two, the machine Z its
 * master was on none. Then, where Z runs a replica of a master on the third machine Y, that one
 * takes over too (X 2, Y 0, Z 1): the move that balances it is not the first failover undone.
 * Returns X.
 */
async function forceTwoMasters(ready: KubeObject, before: Placed[]): Promise<string> {
  const x = before.find((n) => n.role === 'master' && replicaOn(before, n.machine))!.machine;
  const first = replicaOn(before, x)!;
  await failover(first);
  const z = before.find((n) => n.id === first.masterId)!.machine;
  const second = replicaOn(await layout(ready), z, x);
  if (second) await failover(second);
  const forced = await layout(ready);
  console.log(`forced: ${forced.map((n) => `${n.pod}@${n.machine}:${n.role}`).join(' ')}`);
  expect(mastersPerMachine(forced).get(x), `masters on ${x} after the failovers`).toBe(2);
  return x;
}

describe('primary balance', () => {
  it('two masters failed over onto one machine: moved back to one a machine, PrimaryMoved, every acknowledged write there', async () => {
    const { ready } = await applyCluster(e2e, { name: NAME, namespace: NS });
    const before = await layout(ready);
    expect([...mastersPerMachine(before).values()]).toEqual([1, 1, 1]);
    const ledger = await startLedger(statusNodes(ready), RATE);
    let stopped: Awaited<ReturnType<typeof ledger.stop>> | undefined;
    try {
      const x = await forceTwoMasters(ready, before);
      const t0 = Date.now();
      const balanced = await eventually(
        'one master on each machine again',
        async () => {
          const now = await layout(ready);
          return [...mastersPerMachine(now).values()].every((held) => held === 1) && now;
        },
        90_000,
        500,
      );
      console.log(`primary balance: one master a machine ${Date.now() - t0} ms after the failovers`);
      const moved = await eventually(
        'a PrimaryMoved Event',
        async () => {
          const { items } = await e2e.platform.kube.list('v1', 'Event', NS);
          const found = (items as { reason?: string; message?: string }[]).filter((e) => e.reason === 'PrimaryMoved');
          return found.length > 0 && found;
        },
        15_000,
      );
      console.log(`PrimaryMoved: ${moved.map((e) => e.message).join(' | ')}`);
      expect(moved[0]!.message).toMatch(
        new RegExp(`^${NAME}-\\d+ on \\S+ took over from master ${NAME}-\\d+ on ${x}: ${x} held 2 of 3 masters`),
      );
      // Balanced by moving masters, never by restarting or replacing a node.
      expect(balanced.map((n) => n.id).sort()).toEqual(before.map((n) => n.id).sort());
      // The status written after the move says Ready with the new roles, and nothing said Degraded
      // after the move (a pass that looked while the failovers by hand were under way may have).
      const masters = balanced.filter((n) => n.role === 'master').map((n) => n.id);
      await eventually(
        'the status Ready with the masters moved',
        async () => {
          const status = statusNodes(await waitForReady(e2e, NS, NAME, 60_000, 6));
          return masters.every((id) => status.find((n) => n.id === id)?.role === 'master');
        },
        60_000,
        500,
      );
      const events = (await e2e.platform.kube.list('v1', 'Event', NS)).items as ClusterEvent[];
      const ours = events.filter((e) => e.involvedObject?.name === NAME);
      console.log(`Events: ${ours.map((e) => `${e.lastTimestamp} ${e.reason}: ${e.message}`).join('; ')}`);
      const movedAt = Math.min(...ours.filter((e) => e.reason === 'PrimaryMoved').map((e) => Date.parse(e.firstTimestamp!)));
      expect(ours.filter((e) => e.reason === 'Degraded' && Date.parse(e.lastTimestamp!) >= movedAt)).toEqual([]);
      expect(ours.map((e) => e.reason)).not.toContain('Failover');
    } finally {
      stopped = await ledger.stop();
    }
    const { acknowledged, failures } = stopped;
    console.log(`primary balance: ${acknowledged.length} writes acknowledged, failures ${JSON.stringify(failures)}`);
    expect(acknowledged.length, 'writes acknowledged while the masters moved').toBeGreaterThan(RATE);
    await withClusterClient(ready, async (client) => expect(await missingWrites(client, acknowledged)).toEqual([]));
  }, 300_000);
});
