// Password rotation driven by spec.passwordSecret: when the Secret holds a password some node's
// `default` user lacks, or still accepts another, the switch runs (planner/password.ts: add, then
// masterauth, then drop). The operator logs in as its own user throughout, so it needs neither
// password to do it. Pure.
import { planRotation } from '../../shared/redis/planner/password.js';
import type { Endpoint } from '../../shared/redis/types.js';
import { podEndpoint, type Observation } from './observe.js';

/** The nodes the switch runs on (every Pod with a node), when it has a phase left to do. */
export function rotationStep(o: Observation): { kind: 'rotate-password'; endpoints: Endpoint[] } | undefined {
  if (!o.passwordHash || !o.auth || o.pass.taken.has('rotate-password')) return undefined;
  if (planRotation(o.passwordHash, o.auth).phase === 'done') return undefined;
  return { kind: 'rotate-password', endpoints: o.pods.filter((p) => p.ip && !p.deleting).map(podEndpoint) };
}

/** Some node is not switched yet: the cluster is not in shape. */
export function rotationPending(o: Observation): boolean {
  return !!o.passwordHash && !!o.auth && planRotation(o.passwordHash, o.auth).phase !== 'done';
}
