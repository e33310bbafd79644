// ACL users on every node, as planner/acl.ts decides: Redis Cluster does not propagate ACLs, so
// each master and replica gets its own ACL SETUSER / ACL DELUSER.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import { parseAclList, planAcl, setUserArgs, type AclStep, type AclTable, type AclUserSpec } from '../planner/acl.js';
import type { Endpoint } from '../types.js';

/** The name rules are tried on before they reach a real user; deleted right after. */
export const PROBE_USER = 'redis-operator-probe';

export interface AclRefusal {
  user: string;
  /** Redis's own words, e.g. "Error in ACL SETUSER modifier '+nosuch': Unknown command". */
  reason: string;
}

export interface AclResult {
  /** Steps done, per node (host:port). */
  applied: Map<string, AclStep[]>;
  refused: AclRefusal[];
  /** Nodes that could not be reached; the next pass catches them up. */
  unreachable: string[];
}

export async function readAcl(pool: RedisPool, node: Endpoint): Promise<AclTable> {
  return parseAclList((await pool.call(node, 'ACL', 'LIST')) as string[]);
}

/**
 * Each user's rules in Redis's normal form, learnt on `node` through PROBE_USER; a user whose rules
 * Redis refuses is returned in `refused` instead.
 */
export async function normalizeUsers(
  pool: RedisPool,
  node: Endpoint,
  users: AclUserSpec[],
): Promise<{ desired: AclTable; refused: AclRefusal[] }> {
  const desired: AclTable = new Map();
  const refused: AclRefusal[] = [];
  try {
    for (const user of users) {
      try {
        await pool.call(node, 'ACL', 'SETUSER', PROBE_USER, ...setUserArgs(user));
        desired.set(user.name, (await readAcl(pool, node)).get(PROBE_USER)!);
      } catch (err) {
        refused.push({ user: user.name, reason: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await pool.call(node, 'ACL', 'DELUSER', PROBE_USER);
  }
  return { desired, refused };
}

/**
 * Brings every reachable node's users to the spec's; `nodes` are masters and replicas alike.
 * `untouched` users (their password cannot be read now) stay as each node has them.
 */
export async function applyAcl(pool: RedisPool, nodes: Endpoint[], users: AclUserSpec[], untouched: string[] = []): Promise<AclResult> {
  const result: AclResult = { applied: new Map(), refused: [], unreachable: [] };
  const byName = new Map(users.map((u) => [u.name, u]));
  let learnt: { desired: AclTable; refused: AclRefusal[] } | undefined;
  for (const node of nodes) {
    try {
      learnt ??= await normalizeUsers(pool, node, users);
      const refusedNames = new Set([...learnt.refused.map((r) => r.user), ...untouched]);
      const steps = planAcl(learnt.desired, await readAcl(pool, node), refusedNames);
      for (const step of steps) {
        if (step.kind === 'set') await pool.call(node, 'ACL', 'SETUSER', step.user, ...setUserArgs(byName.get(step.user)!));
        else await pool.call(node, 'ACL', 'DELUSER', step.user);
      }
      if (steps.length > 0) result.applied.set(endpointKey(node), steps);
    } catch (err) {
      result.unreachable.push(`${endpointKey(node)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  result.refused = learnt?.refused ?? [];
  return result;
}
