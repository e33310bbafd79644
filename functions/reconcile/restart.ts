// A whole-cluster restart: every Pod of a formed cluster gone at once. With persistence the nodes
// come back from their claims with their ids and slots, at addresses their peers do not know yet;
// heal re-meets them (planAddressFixes). Without it they come back empty and unknown to each other:
// the cluster's data is gone, and only a person may accept that. Pure.
import type { DefaultedSpec } from '../../shared/api/index.js';
import type { ClusterPicture, Observation, PodInfo } from './observe.js';
import type { Blocker } from './status.js';

/** What a whole-cluster loss means for this pass. */
export interface WholeClusterLoss {
  /** What happened and what to do, for the DataLoss condition and the Warning. */
  message: string;
  /** spec.allowDataLoss: form an empty cluster, as a new one is formed. */
  formAgain: boolean;
  /** Without spec.allowDataLoss: what stops the pass until a person sets it. */
  blocker?: Blocker;
}

export function lossMessage(spec: Pick<DefaultedSpec, 'allowDataLoss' | 'persistence'>): string {
  const what = spec.persistence.enabled
    ? 'every node restarted without its data (its claim held none)'
    : 'every node restarted without persistence';
  return spec.allowDataLoss
    ? `${what}; its data is gone. spec.allowDataLoss is set: an empty cluster was formed in its place`
    : `${what}; its data is gone. Set spec.allowDataLoss: true to form an empty cluster`;
}

/**
 * The cluster was formed (its status said so), no Pod is terminating, every Pod it wants is ready
 * and answers, and no node owns a slot or holds a key in anyone's view: nothing of the cluster is
 * left to heal from. A node still loading its data from disk does not answer DBSIZE, and a node
 * back from its nodes.conf owns slots, so neither looks lost. Nodes that know each other but own
 * nothing (an empty cluster's forming cut short) count as lost too, so forming can resume.
 */
export function wholeClusterLoss(
  o: Pick<Observation, 'formedBefore' | 'pods' | 'spec'>,
  cluster: ClusterPicture,
  wanted: readonly PodInfo[],
  podsWanted: number,
): WholeClusterLoss | undefined {
  if (!o.formedBefore || cluster.anySlots || o.pods.some((p) => p.deleting)) return undefined;
  if (wanted.length !== podsWanted || !wanted.every((p) => p.ready && cluster.reports.has(p.name))) return undefined;
  if (cluster.view.reports.some((r) => r.keys > 0)) return undefined;
  const message = lossMessage(o.spec);
  if (o.spec.allowDataLoss) return { message, formAgain: true };
  return { message, formAgain: false, blocker: { reason: 'AllNodesLost', message } };
}
