// metav1.Condition bookkeeping as Kubernetes does it (apimachinery's meta.SetStatusCondition):
// lastTransitionTime moves only when the status flips, so `kubectl get` shows how long a state has
// held, and rewriting an unchanged condition changes nothing (no status write, no event loop).
import { kubeTime } from './time.js';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionInput, now: Date = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime: prev && prev.status === next.status ? prev.lastTransitionTime : kubeTime(now),
  };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

/** The entry of `type` in any object's conditions: a RedisCluster's, a Pod's, a Node's. */
export function findCondition<C extends { type: string }>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly { type: string; status: string }[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** `conditions` with the entry of `type` replaced by `condition` (in place), or dropped when there is none. */
export function withCondition(conditions: readonly Condition[], type: string, condition: Condition | undefined): Condition[] {
  const out = conditions.filter((c) => c.type !== type || condition);
  const i = out.findIndex((c) => c.type === type);
  if (condition && i >= 0) out[i] = condition;
  else if (condition) out.push(condition);
  return out;
}
