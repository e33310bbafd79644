// spec.acl.users on the platform: a user limited to app:* keys through a cluster client logged in
// as it, a rule Redis refuses reported by name while the other user is applied, and a user removed
// from the spec deleted on every node, masters and replicas.
import { describe, expect, it } from 'vitest';
import { Cluster } from 'ioredis';
import type { KubeObject } from '../../local/apiserver/client.js';
import { applyCluster, condition, eventually, statusNodes, useE2E, withNode } from '../helpers/e2e.js';

const NS = 'acl';
const NAME = 'guarded';
const app = { name: 'app', rules: 'on ~app:* +@all -@dangerous', passwordSecret: { name: 'app-pw', key: 'password' } };
const bad = { name: 'bad', rules: 'on ~* +nosuchcommand' };
let ready: KubeObject;

const e2e = useE2E(
  { namespaces: [NS] },
  async (e) => {
    const secret = await e.kubectl(['create', 'secret', 'generic', 'app-pw', '-n', NS, '--from-literal=password=app-secret']);
    expect(secret.code, secret.stderr).toBe(0);
    ({ ready } = await applyCluster(e, { name: NAME, namespace: NS, spec: { masters: 3, replicas: 1, acl: { users: [app, bad] } } }));
  },
  200_000,
);

/** The users on each node of the cluster, by ACL LIST. */
async function usersPerNode(): Promise<string[][]> {
  return Promise.all(
    statusNodes(ready).map((n) =>
      withNode(n, async (r) => ((await r.call('ACL', 'LIST')) as string[]).map((l) => l.split(' ')[1]!).sort()),
    ),
  );
}

describe('ACL users', () => {
  it('applies the accepted user on every node, names the refused one, and the user reaches only its keys', async () => {
    const refused = await eventually('AclApplied to name the refused user', async () => {
      const c = condition(await e2e.getCluster(NS, NAME), 'AclApplied');
      return c?.reason === 'RuleRefused' ? c : undefined;
    });
    expect(refused.status).toBe('False');
    expect(refused.message).toMatch(/^user bad: .*nosuchcommand/i);
    const events = await e2e.kubectl(['get', 'events', '-n', NS, '--field-selector', 'reason=RuleRefused', '-o', 'json']);
    expect((JSON.parse(events.stdout) as { items: { type: string; message: string }[] }).items[0]).toMatchObject({
      type: 'Warning',
      message: expect.stringContaining('user bad'),
    });
    expect(await usersPerNode()).toEqual(statusNodes(ready).map(() => ['app', 'default']));

    // INFO is @dangerous: no ready check for a user without it.
    const client = new Cluster(
      statusNodes(ready).map((n) => ({ host: n.ip, port: n.port })),
      { enableReadyCheck: false, redisOptions: { username: 'app', password: 'app-secret', enableReadyCheck: false } },
    );
    try {
      expect(await client.set('app:1', 'v1')).toBe('OK');
      expect(await client.get('app:1')).toBe('v1');
      await expect(client.set('other:1', 'v1')).rejects.toThrow(/NOPERM/);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it('deletes a user removed from the spec on every node', async () => {
    const patched = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"acl":{"users":[]}}}']);
    expect(patched.code, patched.stderr).toBe(0);
    await eventually('app deleted on every node', async () => {
      const users = await usersPerNode();
      return users.every((u) => u.length === 1 && u[0] === 'default') ? users : undefined;
    });
    // The status is written at the end of the round that applied it.
    await eventually('AclApplied True', async () => {
      const c = condition(await e2e.getCluster(NS, NAME), 'AclApplied');
      return c?.status === 'True' && c.reason === 'UsersApplied' ? c : undefined;
    });
  }, 60_000);
});
