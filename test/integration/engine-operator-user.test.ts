// The operator's own ACL user is enough for everything the engine does, and no more: nodes start
// with it the way a Pod starts them, the engine logs in as it for create, scale out, drain, remove,
// heal, password rotation and ACL users, and no node's ACL LOG records a single refused command.
// The exporter's user is enough for redis_exporter's scrape. Real redis-server and redis_exporter.
import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { applyAcl } from '../../shared/redis/executor/acl.js';
import { heal } from '../../shared/redis/executor/heal.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { rotatePasswordFully } from '../../shared/redis/executor/password.js';
import { removeNode } from '../../shared/redis/executor/remove.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { ownersFromView } from '../../shared/redis/check.js';
import { planScaleIn, planScaleOut } from '../../shared/redis/planner/reshard.js';
import { EXPORTER_ARGS, EXPORTER_RULES, EXPORTER_USER, OPERATOR_RULES, OPERATOR_USER, userArgs } from '../../shared/redis/users.js';
import { RedisPool } from '../../shared/redis/connection.js';
import type { Endpoint } from '../../shared/redis/types.js';
import { formCluster } from '../helpers/engine-fixture.js';
import { freePort } from '../helpers/ports.js';
import { evenCreatePlan, verifyKeys } from '../helpers/redis-harness.js';
import { Cluster } from 'ioredis';

const KEYS = 3000;
const USERS = [...userArgs(OPERATOR_USER, 'op-pw', OPERATOR_RULES), ...userArgs(EXPORTER_USER, 'exp-pw', EXPORTER_RULES)];

/** What each node's ACL LOG recorded: every command refused to anyone since the nodes started. */
async function refusals(nodes: Endpoint[], defaultPassword: string): Promise<string[]> {
  const out: string[] = [];
  // ACL LOG is for an administrator, not for the operator's user.
  const pool = new RedisPool({ password: defaultPassword });
  onTestFinished(() => pool.close());
  for (const node of nodes) {
    const log = (await pool.call(node, 'ACL', 'LOG')) as unknown[][];
    for (const entry of log) {
      const field = (name: string) => String(entry[entry.indexOf(name) + 1]);
      out.push(`${node.port}: ${field('username')} ${field('reason')} ${field('object')} ${field('client-info')}`);
    }
  }
  return out;
}

describe("the operator's ACL user", () => {
  it('create, scale out, drain, remove, heal, password rotation and ACL users run as it with no command refused', async () => {
    // 3 shards of 2 and two fresh nodes; the pool logs in as the operator's user.
    const { harness, pool, endpoints, ids } = await formCluster({
      nodes: 7,
      members: 7,
      masters: 3,
      replicas: 1,
      password: 'default-pw',
      args: USERS,
      login: { username: OPERATOR_USER, password: 'op-pw' },
      keys: KEYS,
      plan: (members) => {
        const plan = evenCreatePlan(members.slice(0, 6), 3, 1);
        plan.masters.push({ node: members[6]!.name, slots: [] });
        return plan;
      },
    });
    // Node 6 was created as a master with no slots: scale out to it, then drain it and remove it.
    const owners = async () => ownersFromView((await pool.readReport(endpoints[0]!)).nodes);
    const out = await migrateSlots(pool, planScaleOut(await owners(), [ids[6]!]).waves, { endpoints });
    expect(out.errors).toEqual([]);
    expect(out.slotsMoved).toBe(4096);
    const back = await migrateSlots(pool, planScaleIn(await owners(), [ids[6]!]).waves, { endpoints });
    expect(back.errors).toEqual([]);
    const removed = await removeNode(pool, ids[6]!, { endpoints: endpoints.slice(0, 6) });
    expect(removed.problems).toEqual([]);

    // A master is killed; heal promotes its replica and brings it back as a replica.
    await harness.kill(0);
    const desired = harness.desiredNodes().slice(0, 6);
    await waitFor('the replica promoted', 20_000, async () => {
      const r = await heal(pool, desired, { masters: 3, replicasPerMaster: 1 });
      return r.actions.some((a) => a.kind === 'failover') || (await pool.call(endpoints[3]!, 'ROLE'))?.toString().startsWith('master')
        ? true
        : undefined;
    });
    await harness.restart(0);
    await waitFor('healed', 30_000, async () =>
      (await heal(pool, desired, { masters: 3, replicasPerMaster: 1 })).done ? true : undefined,
    );

    expect((await rotatePasswordFully(pool, endpoints.slice(0, 6), 'default-pw-2')).at(-1)?.phase).toBe('done');
    const acl = await applyAcl(pool, endpoints.slice(0, 6), [{ name: 'app', rules: 'on ~app:* +@read +@write', passwords: ['app-pw'] }]);
    expect(acl.refused).toEqual([]);
    expect(acl.unreachable).toEqual([]);

    // Read before any other client logs in: every entry would be the operator's.
    expect(await refusals(endpoints.slice(0, 6), 'default-pw-2')).toEqual([]);
    // ...and it is no more than that: no data commands, no server control.
    for (const command of [
      ['GET', 'key:1'],
      ['SET', 'x', '1'],
      ['KEYS', '*'],
      ['SHUTDOWN'],
      ['BGSAVE'],
      ['CLIENT', 'KILL', 'USER', 'app'],
      ['CONFIG', 'REWRITE'],
    ])
      await expect(pool.call(endpoints[1]!, command[0]!, ...command.slice(1)), command.join(' ')).rejects.toThrow(/NOPERM/);
    const cluster = new Cluster(
      endpoints.slice(0, 6).map((e) => ({ host: e.ip, port: e.port })),
      { redisOptions: { password: 'default-pw-2' } },
    );
    try {
      expect(await verifyKeys(cluster, KEYS, 40)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
  }, 120_000);

  it("redis_exporter logged in as the exporter's user scrapes every metric it has with no command refused", async () => {
    const { endpoints } = await formCluster({
      nodes: 1,
      masters: 1,
      password: 'default-pw',
      args: USERS,
      login: { username: OPERATOR_USER, password: 'op-pw' },
    });
    const port = await freePort();
    const exporter = spawn('prometheus-redis-exporter', [`--web.listen-address=127.0.0.1:${port}`, ...EXPORTER_ARGS], {
      env: {
        ...process.env,
        REDIS_ADDR: `redis://${endpoints[0]!.ip}:${endpoints[0]!.port}`,
        REDIS_USER: EXPORTER_USER,
        REDIS_PASSWORD: 'exp-pw',
      },
      stdio: 'ignore',
    });
    onTestFinished(() => void exporter.kill());
    const metrics = await waitFor('a scrape', 15_000, async () => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => undefined);
      return text?.includes('redis_up') ? text : undefined;
    });
    expect(metrics).toMatch(/^redis_up 1$/m);
    expect(metrics).toMatch(/^redis_cluster_enabled 1$/m);
    expect(metrics).toMatch(/^redis_memory_max_bytes \d+$/m);
    expect(await refusals(endpoints, 'default-pw')).toEqual([]);
  }, 60_000);

  it('a node started before the user existed is logged in to as default, and MIGRATE to it authenticates the same way', async () => {
    // Two masters without the operator's user, as before an operator upgrade rolled them.
    const { harness, endpoints, ids } = await formCluster({
      nodes: 2,
      masters: 1,
      password: 'default-pw',
      keys: 500,
      plan: (m) => ({
        masters: [
          { node: m[0]!.name, slots: [{ start: 0, end: 16383 }] },
          { node: m[1]!.name, slots: [] },
        ],
        replicas: [],
      }),
    });
    const pool = new RedisPool({ username: OPERATOR_USER, password: 'op-pw', fallback: { password: 'default-pw' } });
    onTestFinished(() => pool.close());
    expect(await pool.call(endpoints[0]!, 'PING')).toBe('PONG');
    expect(pool.credentialsFor(endpoints[0]!)).toEqual({ password: 'default-pw' });
    const owners = ownersFromView((await pool.readReport(endpoints[0]!)).nodes);
    const moved = await migrateSlots(pool, planScaleOut(owners, [ids[1]!]).waves, { endpoints });
    expect(moved.errors).toEqual([]);
    expect(moved.slotsMoved).toBe(8192);
    const cluster = harness.cluster();
    try {
      expect(await verifyKeys(cluster, 500, 40)).toMatchObject({ missing: 0, wrong: 0 });
    } finally {
      cluster.disconnect();
    }
    // Without a fallback, the refusal says who was refused instead of "connection closed".
    const strict = new RedisPool({ username: OPERATOR_USER, password: 'op-pw' });
    onTestFinished(() => strict.close());
    await expect(strict.call(endpoints[0]!, 'PING')).rejects.toThrow(/refused the login as redis-operator: WRONGPASS/);
  }, 60_000);
});
