// PodDisruptionBudgets: the disruption controller that keeps each budget's status, and what the
// eviction check reads to refuse taking a healthy Pod when its budget has no disruption left.
import { canonical } from '../canonical.js';
import { matchesLabelSelector, type LabelSelector } from '../selectors.js';
import type { Store } from '../store.js';
import { isConditionTrue } from '../../../shared/kube/conditions.js';

type Rec = Record<string, any>;

export const PDB_STORAGE = 'policy/poddisruptionbudgets';

export interface DisruptionStatus {
  expectedPods: number;
  currentHealthy: number;
  desiredHealthy: number;
  disruptionsAllowed: number;
}

export function isHealthy(pod: Rec): boolean {
  return !pod.metadata?.deletionTimestamp && pod.status?.phase === 'Running' && isConditionTrue(pod.status?.conditions, 'Ready');
}

/** An int-or-percent of `total`, rounded up as Kubernetes does for budgets. */
function scaled(value: unknown, total: number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(String(value));
  return m ? Math.ceil((Number(m[1]) * total) / 100) : Number(value) || 0;
}

export function podsOf(pdb: Rec, pods: Rec[]): Rec[] {
  return pods.filter(
    (p) =>
      p.metadata?.namespace === pdb.metadata?.namespace &&
      matchesLabelSelector(p.metadata?.labels, pdb.spec?.selector as LabelSelector | undefined, 'nothing'),
  );
}

export function disruptionStatus(pdb: Rec, pods: Rec[]): DisruptionStatus {
  const covered = podsOf(pdb, pods).filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase));
  const expectedPods = covered.length;
  const currentHealthy = covered.filter(isHealthy).length;
  let desiredHealthy = 0;
  if (pdb.spec?.minAvailable !== undefined) desiredHealthy = scaled(pdb.spec.minAvailable, expectedPods);
  else if (pdb.spec?.maxUnavailable !== undefined)
    desiredHealthy = Math.max(0, expectedPods - scaled(pdb.spec.maxUnavailable, expectedPods));
  return { expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy) };
}

/** The disruption controller: each PodDisruptionBudget's status from the Pods it covers. */
export class DisruptionController {
  private seenAt = -1;

  constructor(private readonly store: Store) {}

  sync(): void {
    // Nothing changed since the last look: nothing to recompute.
    if (this.seenAt === this.store.rv) return;
    this.seenAt = this.store.rv;
    const budgets = this.store.list(PDB_STORAGE);
    if (budgets.length === 0) return;
    const pods = this.store.list('/pods');
    for (const pdb of budgets) {
      const status = { ...(pdb.status ?? {}), ...disruptionStatus(pdb, pods), observedGeneration: pdb.metadata.generation ?? 1 };
      if (canonical(status) === canonical(pdb.status ?? {})) continue;
      this.store.put(PDB_STORAGE, { ...pdb, status }, 'MODIFIED', pdb);
    }
    this.seenAt = this.store.rv;
  }
}
