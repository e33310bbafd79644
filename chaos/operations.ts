// The planned operations a chaos run drives: each is a cluster to start from and the spec change
// that sets it going, as a person would with `kubectl patch`. Rotations are built elsewhere; their
// entries say so until their spec changes exist.
export interface Operation {
  name: string;
  /** The spec the cluster starts from (merged into the example's). */
  initial: { masters: number; replicas: number; persistence?: { enabled: boolean; size: string } };
  /** The spec change that starts the operation; none for a fault on a steady cluster. */
  patch?: (seed: number) => Record<string, unknown>;
  /** Why the operation cannot run yet, when it cannot. */
  pending?: string;
}

const persistence = { enabled: true, size: '1Gi' };

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
  { name: 'password-rotation', initial: { masters: 3, replicas: 1 }, pending: 'the password rotation operation is not in the spec yet' },
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
