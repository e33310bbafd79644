// The steps of planner/password.ts on the nodes: ACL SETUSER default >new / !<hash> and
// CONFIG SET masterauth. Existing connections stay authenticated throughout (Redis never logs a
// client out when a password is removed).
import type { RedisPool } from '../connection.js';
import { endpointFromKey, endpointKey } from '../endpoint.js';
import { passwordHash, planRotation, type NodeAuth, type RotationPlan, type RotationStep } from '../planner/password.js';
import type { Endpoint } from '../types.js';

export async function readAuth(pool: RedisPool, node: Endpoint): Promise<NodeAuth> {
  const user = (await pool.call(node, 'ACL', 'GETUSER', 'default')) as unknown[];
  const at = user.indexOf('passwords');
  const [, masterauth] = (await pool.call(node, 'CONFIG', 'GET', 'masterauth')) as string[];
  return {
    node: endpointKey(node),
    passwordHashes: (user[at + 1] as string[]) ?? [],
    masterauthHash: masterauth ? passwordHash(masterauth) : undefined,
  };
}

/** What each node says, by endpointKey; undefined for a node that did not answer. */
export async function readAuths(pool: RedisPool, nodes: Endpoint[]): Promise<Map<string, NodeAuth | undefined>> {
  const read = await Promise.all(nodes.map((n) => readAuth(pool, n).catch(() => undefined)));
  return new Map(nodes.map((n, i) => [endpointKey(n), read[i]]));
}

/** The steps of one phase; `password` is the new one (the plan only has its hash). */
export async function carryOutRotation(pool: RedisPool, steps: RotationStep[], password: string): Promise<void> {
  for (const step of steps) {
    const node = endpointFromKey(step.node);
    if (step.kind === 'add-password') await pool.call(node, 'ACL', 'SETUSER', 'default', `>${password}`);
    else if (step.kind === 'set-masterauth') await pool.call(node, 'CONFIG', 'SET', 'masterauth', password);
    else await pool.call(node, 'ACL', 'SETUSER', 'default', `!${step.hash}`);
  }
}

/** One phase of the switch to `password` on `nodes` (every node the cluster should have); returns the plan it carried out. */
export async function rotatePassword(pool: RedisPool, nodes: Endpoint[], password: string): Promise<RotationPlan> {
  const plan = planRotation(passwordHash(password), await readAuths(pool, nodes));
  if ('steps' in plan) await carryOutRotation(pool, plan.steps, password);
  return plan;
}

/** Every phase until done (or a node does not answer). */
export async function rotatePasswordFully(pool: RedisPool, nodes: Endpoint[], password: string): Promise<RotationPlan[]> {
  const plans: RotationPlan[] = [];
  for (;;) {
    const plan = await rotatePassword(pool, nodes, password);
    plans.push(plan);
    if (plan.phase === 'done' || plan.phase === 'wait') return plans;
  }
}
