// Rotating spec.passwordSecret on the platform: a person replaces the Secret and the operator,
// logged in as its own user, switches every node with no restart. A writer that logged in with the
// old password keeps working throughout; at the end only the new password opens a new connection,
// and the exporter, logged in as its own user, still scrapes every node.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { authReply } from '../helpers/auth.js';
import { applyCluster, clusterClient, countKeys, eventually, statusNodes, useE2E, waitForReady, writeKeys } from '../helpers/e2e.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger } from '../helpers/timed-ledger.js';

const NS = 'rotation';
const NAME = 'rotating';
let ready: KubeObject;

const secret = (password: string) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'cluster-pw', namespace: NS },
    stringData: { password },
  });

const e2e = useE2E(
  { namespaces: [NS] },
  async (e) => {
    const made = await e.kubectl(['apply', '-f', '-'], secret('old-pw'));
    expect(made.code, made.stderr).toBe(0);
    ({ ready } = await applyCluster(e, {
      name: NAME,
      namespace: NS,
      spec: { masters: 3, replicas: 1, passwordSecret: { name: 'cluster-pw' } },
    }));
  },
  200_000,
);

/** Each Pod's uid and its containers' restart counts: a restart changes one or the other. */
async function podIdentities(): Promise<string[]> {
  const pods = await e2e.kubectl(['get', 'pods', '-n', NS, '-l', `redis.redis/cluster=${NAME}`, '-o', 'json']);
  const items = (JSON.parse(pods.stdout) as { items: KubeObject[] }).items;
  return items
    .map((p) => {
      const statuses = ((p.status as { containerStatuses?: { restartCount: number }[] }).containerStatuses ?? []).map(
        (c) => c.restartCount,
      );
      return `${p.metadata?.name}/${p.metadata?.uid}/${statuses.join(',')}`;
    })
    .sort();
}

describe('password rotation', () => {
  it('a replaced password Secret is switched on every node with no restart and no failed command; the old one is refused at the end', async () => {
    const nodes = statusNodes(ready);
    const before = await podIdentities();
    const ledger = await startTimedLedger(nodes, 100, 'rot', 1000, { auth: { password: 'old-pw' } });
    await new Promise((r) => setTimeout(r, 1000));

    const changedAt = Date.now();
    const replaced = await e2e.kubectl(['apply', '-f', '-'], secret('new-pw'));
    expect(replaced.code, replaced.stderr).toBe(0);
    await eventually(
      'every node to accept only the new password',
      async () => {
        const replies = await Promise.all(nodes.map(async (n) => [await authReply(n, 'new-pw'), await authReply(n, 'old-pw')]));
        return replies.every(([fresh, old]) => fresh === '+OK' && /^-WRONGPASS/.test(old!)) ? replies : undefined;
      },
      120_000,
    );
    const switchedAfter = Date.now() - changedAt;
    await new Promise((r) => setTimeout(r, 1000));
    const result = await ledger.stop();

    expect(result.failures).toEqual({});
    expect(result.wrongReads).toBe(0);
    const client = clusterClient(ready, 'new-pw');
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
    expect(await podIdentities()).toEqual(before);
    const events = await e2e.kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=PasswordRotated', '-o', 'json']);
    expect((JSON.parse(events.stdout) as { items: unknown[] }).items.length).toBeGreaterThan(0);
    // The exporter logs in as its own user: the switch does not reach it.
    for (const n of nodes) {
      const metrics = await (await fetch(`http://${n.ip}:${n.port + 5000}/metrics`)).text();
      expect(metrics, `exporter of ${n.pod}`).toMatch(/^redis_up 1$/m);
    }
    console.log(
      `password switched on ${nodes.length} nodes ${switchedAfter} ms after the Secret changed; ${result.writes.length} writes acknowledged, 0 failed, 0 missing, no Pod restarted`,
    );
  }, 180_000);

  it('after the switch, a scale-out moves slots with MIGRATE logged in as the operator user on the target: every key kept', async () => {
    const client = clusterClient(ready, 'new-pw');
    try {
      await writeKeys(client, 'moved', 500);
      const patched = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"masters":4}}']);
      expect(patched.code, patched.stderr).toBe(0);
      const grown = await eventually(
        'four masters owning slots',
        async () => {
          const obj = await waitForReady(e2e, NS, NAME, 120_000, 8);
          const owners = statusNodes(obj).filter((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0);
          return owners.length === 4 ? obj : undefined;
        },
        150_000,
      );
      expect(statusNodes(grown)).toHaveLength(8);
      expect(await countKeys(client, 'moved', 500)).toBe(500);
    } finally {
      client.disconnect();
    }
  }, 200_000);
});
