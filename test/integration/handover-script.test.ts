// The Redis container's preStop hook (functions/reconcile/handover.ts) run with sh against real
// redis-servers: a 1x1 cluster whose nodes have the operator's ACL user, as a Pod's nodes do.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HANDOVER_SECONDS, handoverScript } from '../../functions/reconcile/handover.js';
import { OPERATOR_RULES, OPERATOR_USER, userArgs } from '../../shared/redis/users.js';
import { startRedisNodes, type Harness } from '../helpers/redis-harness.js';

const PASSWORD = 'default-secret';
const OPERATOR_PASSWORD = 'operator-secret';
const KEYS = 2000;
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

async function call(h: Harness, i: number, ...args: [string, ...string[]]): Promise<unknown> {
  const c = h.client(i);
  try {
    return await c.call(...args);
  } finally {
    c.disconnect();
  }
}

const role = async (h: Harness, i: number): Promise<string> => String(((await call(h, i, 'ROLE')) as unknown[])[0]);
const keysOn = async (h: Harness, i: number): Promise<number> => Number(await call(h, i, 'DBSIZE'));

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Node 0 masters every slot with KEYS keys; node 1, when `replica`, is its replica and synced. */
async function oneShard(replica: boolean, config: Record<string, string> = {}): Promise<Harness> {
  const h = await startRedisNodes(2, {
    password: PASSWORD,
    args: userArgs(OPERATOR_USER, OPERATOR_PASSWORD, OPERATOR_RULES),
    config: { 'cluster-node-timeout': '2000', ...config },
  });
  harness = h;
  const [a, b] = [h.client(0), h.client(1)];
  try {
    await a.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    await b.call('CLUSTER', 'MEET', h.nodes[0]!.ip, String(h.nodes[0]!.port));
    await until(
      'the nodes to meet',
      async () =>
        String(await a.call('CLUSTER', 'NODES'))
          .split('\n')
          .filter(Boolean).length === 2,
    );
    await until('cluster_state:ok', async () => /cluster_state:ok/.test(String(await a.call('CLUSTER', 'INFO'))));
    const pipeline = a.pipeline();
    for (let i = 0; i < KEYS; i++) pipeline.set(`k:${i}`, `v${i}`);
    await pipeline.exec();
    if (replica) {
      const id = String(await a.call('CLUSTER', 'MYID'));
      await b.call('CLUSTER', 'REPLICATE', id);
      await until('the replica to be online', async () => /state=online/.test(String(await a.call('INFO', 'replication'))));
      await until('the master to know it by gossip', async () => String(await a.call('CLUSTER', 'NODES')).includes(`slave ${id}`));
    }
  } finally {
    a.disconnect();
    b.disconnect();
  }
  return h;
}

/** The hook of node i as its Pod runs it: sh, the operator's user, its password from the env. */
function runHook(h: Harness, i: number, password = OPERATOR_PASSWORD): Promise<{ code: number; output: string; ms: number }> {
  const script = handoverScript({ port: h.nodes[i]!.port, user: { name: OPERATOR_USER, passwordEnv: 'REDIS_OPERATOR_PASSWORD' } });
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', script],
      { env: { PATH: process.env.PATH, REDIS_OPERATOR_PASSWORD: password }, timeout: (HANDOVER_SECONDS + 10) * 1000 },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        resolve({ code, output: `${stdout}${stderr}`.trim(), ms: Date.now() - started });
      },
    );
  });
}

describe('the preStop handover script', () => {
  it('a master with an online replica hands its slots over and exits 0 once it is a replica', async () => {
    const h = await oneShard(true);
    const hook = await runHook(h, 0);
    expect(hook).toMatchObject({ code: 0, output: '' });
    expect(hook.ms).toBeLessThan(3000);
    expect(await role(h, 0)).toBe('slave');
    expect(await role(h, 1)).toBe('master');
    expect(await keysOn(h, 1)).toBe(KEYS);
  }, 30_000);

  it('a replica, and a master with no replica, exit at once and change nothing', async () => {
    const h = await oneShard(true);
    expect(await runHook(h, 1)).toMatchObject({ code: 0 });
    expect(await role(h, 1)).toBe('slave');
    await h.stop();
    const alone = await oneShard(false);
    const hook = await runHook(alone, 0);
    expect(hook.code).toBe(0);
    expect(hook.ms).toBeLessThan(1500);
    expect(await role(alone, 0)).toBe('master');
  }, 30_000);

  it('a node it cannot log in to: exit 1 with the reason, nothing changed', async () => {
    const h = await oneShard(true);
    const hook = await runHook(h, 0, 'wrong');
    expect(hook.code).toBe(1);
    expect(hook.output).toContain('this node does not answer CLUSTER NODES: nothing to hand over');
    expect(hook.output).toContain('WRONGPASS');
    expect(await role(h, 0)).toBe('master');
  }, 30_000);

  it('a master whose only replica is gone stops waiting after 3 s', async () => {
    const h = await oneShard(true);
    await h.kill(1);
    const hook = await runHook(h, 0);
    expect(hook.code).toBe(0);
    expect(hook.ms).toBeGreaterThanOrEqual(1900);
    expect(hook.ms).toBeLessThan(5000);
    expect(await role(h, 0)).toBe('master');
  }, 30_000);

  it('a master whose replica restarted and is still in its full sync waits for it, then hands over every key', async () => {
    // The master holds the sync back 3 s (diskless sync delay): the replica is linked, not online.
    const h = await oneShard(true, { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': '3' });
    await h.kill(1);
    // As a Pod without persistence starts: no RDB of its last sync, so a full sync again.
    rmSync(join(h.nodes[1]!.dir, 'dump.rdb'), { force: true });
    await h.restart(1);
    await until('the restarted replica to be linked', async () =>
      /connected_slaves:1/.test(String(await call(h, 0, 'INFO', 'replication'))),
    );
    expect(String(await call(h, 0, 'INFO', 'replication'))).not.toMatch(/state=online/);
    const hook = await runHook(h, 0);
    expect(hook).toMatchObject({ code: 0, output: '' });
    expect(hook.ms).toBeGreaterThanOrEqual(1000);
    expect(await role(h, 1)).toBe('master');
    expect(await keysOn(h, 1)).toBe(KEYS);
  }, 40_000);
});
