// The planned operations a chaos run drives: each is a cluster to start from and the change that
// sets it going, as a person would make it: a `kubectl patch` of the spec, or a Secret replaced.
import { authReply } from '../test/helpers/auth.js';
import { statusNodes } from '../test/helpers/e2e.js';
import type { ChaosTarget } from './faults.js';

export interface Operation {
  name: string;
  /** The spec the cluster starts from (merged into the example's). */
  initial: {
    masters: number;
    replicas: number;
    persistence?: { enabled: boolean; size: string };
    passwordSecret?: { name: string };
  };
  /** The spec change that starts the operation; none for a fault on a steady cluster. */
  patch?: (seed: number) => Record<string, unknown>;
  /** What the cluster needs before it is applied (a Secret); sets the password clients log in with. */
  prepare?: (t: ChaosTarget) => Promise<void>;
  /** Starts an operation that is not a spec change; sets the password new connections must use. */
  begin?: (t: ChaosTarget, seed: number) => Promise<void>;
  /** What must hold besides the cluster's shape once the operation is done; none when it holds. */
  problems?: (t: ChaosTarget) => Promise<string[]>;
  /** Why the operation cannot run yet, when it cannot. */
  pending?: string;
}

const persistence = { enabled: true, size: '1Gi' };
const PASSWORD_SECRET = 'chaos-password';

/** Writes the cluster's password Secret, as `kubectl apply` would, and makes it the clients' password. */
async function putPassword(t: ChaosTarget, password: string): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: PASSWORD_SECRET, namespace: t.namespace },
    stringData: { password },
  };
  const applied = await t.e2e.kubectl(['apply', '-f', '-'], JSON.stringify(secret));
  if (applied.code !== 0) throw new Error(`kubectl apply of Secret ${t.namespace}/${PASSWORD_SECRET}: ${applied.stderr.trim()}`);
  if (t.password) retired.set(t.namespace, t.password);
  t.password = password;
}

/** The password each run's cluster had before its rotation, by namespace. */
const retired = new Map<string, string>();

/** Nodes that still take the password the rotation replaced. */
async function oldPasswordTaken(t: ChaosTarget): Promise<string[]> {
  const old = retired.get(t.namespace);
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  if (!old || !obj) return [];
  const replies = await Promise.all(statusNodes(obj).map(async (n) => [n.pod, await authReply(n, old).catch((e: Error) => e.message)]));
  return replies.filter(([, reply]) => !/^-WRONGPASS/.test(reply!)).map(([pod, reply]) => `${pod} answers the old password: ${reply}`);
}

export const OPERATIONS: Operation[] = [
  { name: 'steady', initial: { masters: 3, replicas: 1 } },
  { name: 'steady-persistent', initial: { masters: 3, replicas: 1, persistence } },
  { name: 'scale-out', initial: { masters: 3, replicas: 1 }, patch: () => ({ masters: 4 }) },
  { name: 'scale-in', initial: { masters: 4, replicas: 1 }, patch: () => ({ masters: 3 }) },
  { name: 'replicas-up', initial: { masters: 3, replicas: 1 }, patch: () => ({ replicas: 2 }) },
  { name: 'replicas-down', initial: { masters: 3, replicas: 2 }, patch: () => ({ replicas: 1 }) },
  { name: 'rolling-update', initial: { masters: 3, replicas: 1 }, patch: (seed) => ({ image: `redis:7.2-chaos-${seed}` }) },
  {
    name: 'autoscaling',
    initial: { masters: 3, replicas: 1 },
    pending: 'needs the platform with Prometheus and Alertmanager; covered by test/e2e/autoscaling-loop.test.ts',
  },
  {
    name: 'password-rotation',
    initial: { masters: 3, replicas: 1, passwordSecret: { name: PASSWORD_SECRET } },
    prepare: (t) => putPassword(t, 'chaos-old'),
    begin: (t, seed) => putPassword(t, `chaos-new-${seed}`),
    problems: oldPasswordTaken,
  },
  {
    name: 'certificate-rotation',
    initial: { masters: 3, replicas: 1 },
    pending: 'the certificate rotation operation is not in the spec yet',
  },
];

export function operationNamed(name: string): Operation {
  const op = OPERATIONS.find((o) => o.name === name);
  if (!op) throw new Error(`--scenario: unknown operation "${name}"; one of ${OPERATIONS.map((o) => o.name).join(', ')}`);
  return op;
}

/** The spec once the operation is done: the initial one with the change applied. */
export function targetSpec(op: Operation, seed: number): { masters: number; replicas: number } {
  return { ...op.initial, ...(op.patch?.(seed) ?? {}) } as { masters: number; replicas: number };
}
