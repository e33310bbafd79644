// spec.acl.users on the nodes once the cluster is Ready: read each user's password Secret, apply
// (shared/redis/executor/acl.ts), and say in the AclApplied condition what could not be applied.
import type { DefaultedSpec } from '../../shared/api/index.js';
import { clusterCondition } from '../../shared/api/conditions.js';
import type { Condition } from '../../shared/kube/conditions.js';
import { PasswordSecretError, readPassword, type Kube } from '../../shared/kube/index.js';
import type { RedisPool } from '../../shared/redis/connection.js';
import { applyAcl, type AclRefusal } from '../../shared/redis/executor/acl.js';
import type { AclUserSpec } from '../../shared/redis/planner/acl.js';
import type { Endpoint } from '../../shared/redis/types.js';

export type AclCondition = Omit<Condition, 'lastTransitionTime'>;

/** The condition for what was refused and which Secrets are missing. Pure. */
export function aclCondition(refused: AclRefusal[], missing: AclRefusal[], generation: number): AclCondition {
  if (missing.length > 0)
    return clusterCondition('AclApplied', 'UserSecretMissing', missing.map((m) => `user ${m.user}: ${m.reason}`).join('; '), generation);
  if (refused.length > 0)
    return clusterCondition('AclApplied', 'RuleRefused', refused.map((r) => `user ${r.user}: ${r.reason}`).join('; '), generation);
  return clusterCondition('AclApplied', 'UsersApplied', 'every user of spec.acl.users is on every node', generation);
}

/** Applies spec.acl.users on `nodes`; undefined when the spec has no acl (the nodes' users are left alone). */
export async function syncAcl(
  kube: Kube,
  pool: RedisPool,
  namespace: string,
  spec: DefaultedSpec,
  nodes: Endpoint[],
  generation: number,
): Promise<AclCondition | undefined> {
  if (!spec.acl) return undefined;
  const users: AclUserSpec[] = [];
  const missing: AclRefusal[] = [];
  for (const [i, user] of spec.acl.users.entries()) {
    try {
      const password = await readPassword(kube, namespace, user.passwordSecret, `spec.acl.users[${i}].passwordSecret`);
      users.push({ name: user.name, rules: user.rules, passwords: password === undefined ? [] : [password] });
    } catch (err) {
      if (!(err instanceof PasswordSecretError) || err.problem === 'Unreadable') throw err;
      missing.push({ user: user.name, reason: err.message });
    }
  }
  const result = await applyAcl(
    pool,
    nodes,
    users,
    missing.map((m) => m.user),
  );
  return aclCondition(result.refused, missing, generation);
}
