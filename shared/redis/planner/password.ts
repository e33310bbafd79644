// Password rotation of the `default` user without downtime. Pure. Redis users hold several
// passwords, so the new one is added on every node first (clients with either keep working), then
// every node's masterauth follows (replicas re-authenticate with it on their next sync), and only
// then is the old one dropped. Plans carry SHA-256 hashes, never a password.
import { createHash } from 'node:crypto';

export const passwordHash = (password: string): string => createHash('sha256').update(password).digest('hex');

/** What one node says: `ACL GETUSER default` passwords (hashes) and the hash of its masterauth. */
export interface NodeAuth {
  node: string;
  passwordHashes: string[];
  masterauthHash: string | undefined;
}

export type RotationStep =
  { kind: 'add-password'; node: string } | { kind: 'set-masterauth'; node: string } | { kind: 'drop-password'; node: string; hash: string };

export type RotationPlan =
  | { phase: 'done' }
  /** A node did not answer: the old password stays until every node has the new one. */
  | { phase: 'wait'; unreachable: string[] }
  | { phase: 'add' | 'masterauth' | 'drop'; steps: RotationStep[] };

/**
 * The next phase of the switch to `newHash`; `nodes` maps every node the cluster should have to
 * what it said, undefined when it did not answer. A phase starts only when the one before it is
 * done on every node.
 */
export function planRotation(newHash: string, nodes: Map<string, NodeAuth | undefined>): RotationPlan {
  const seen = [...nodes.values()].filter((n): n is NodeAuth => n !== undefined);
  const add = seen.filter((n) => !n.passwordHashes.includes(newHash)).map((n) => ({ kind: 'add-password' as const, node: n.node }));
  if (add.length > 0) return { phase: 'add', steps: add };
  const auth = seen.filter((n) => n.masterauthHash !== newHash).map((n) => ({ kind: 'set-masterauth' as const, node: n.node }));
  if (auth.length > 0) return { phase: 'masterauth', steps: auth };
  const drop = seen.flatMap((n) =>
    n.passwordHashes.filter((h) => h !== newHash).map((hash) => ({ kind: 'drop-password' as const, node: n.node, hash })),
  );
  if (drop.length === 0) return { phase: 'done' };
  const unreachable = [...nodes].filter(([, n]) => n === undefined).map(([key]) => key);
  // A node that missed the switch still knows only the old password; dropping it elsewhere would cut its replication.
  if (unreachable.length > 0) return { phase: 'wait', unreachable };
  return { phase: 'drop', steps: drop };
}
