// Failover decisions: which variant of CLUSTER FAILOVER a master's replicas need, and which replica
// to promote. Pure.
import { endpointKey } from '../endpoint.js';
import type { Endpoint, NodeReport } from '../types.js';
import { isDown, isGone, mastersWithSlots, replicasOfNode, type ClusterView, type ViewNode } from '../view.js';

export type FailoverMode = 'graceful' | 'force' | 'takeover';

/**
 * What to do for a master whose replicas may need promoting:
 * - its master is healthy: a graceful failover (no write is lost);
 * - a majority of the slot-owning masters is down or gone: TAKEOVER, the only variant that needs no vote;
 * - the cluster marked it `fail`, or it is gone (see isGone: Redis never flags a `noaddr` node
 *   `fail`, so waiting for the cluster would be forever): FORCE. For a merely failed master the
 *   cluster's own failover should win first; the caller waits before forcing;
 * - only `fail?` (or not flagged yet): wait, the cluster has not agreed it is down.
 * `desired` (the addresses nodes should be at) lets a master that is unreachable and not at any of
 * them count as gone.
 */
export function decideFailover(view: ClusterView, masterId: string, desired?: Endpoint[]): FailoverMode | 'wait' {
  const master = view.nodes.get(masterId);
  if (!master) throw new Error(`master ${masterId} is not known to any reachable node`);
  const lost = (n: ViewNode) => isDown(n) || isGone(n, desired);
  const masters = mastersWithSlots(view);
  const down = masters.filter(lost).length;
  if (masters.length > 0 && down * 2 >= masters.length && lost(master)) return 'takeover';
  if (master.report && master.failBy === 0 && master.pfailBy === 0) return 'graceful';
  if (master.failBy > 0 || isGone(master, desired)) return 'force';
  return 'wait';
}

export interface PromotionCandidate {
  id: string;
  /** Replication offset the replica has processed. */
  offset: number;
  nofailover: boolean;
}

/**
 * The replica with the highest replication offset (the least data lost); on a tie one without
 * `nofailover`. A `nofailover` replica stays eligible: a manual failover is exactly what it needs.
 */
export function pickPromotionCandidate(candidates: PromotionCandidate[]): PromotionCandidate | undefined {
  return [...candidates].sort((a, b) => b.offset - a.offset || Number(a.nofailover) - Number(b.nofailover) || a.id.localeCompare(b.id))[0];
}

export function replicaOffset(report: NodeReport): number {
  return Number(report.replication['slave_repl_offset'] ?? report.replication['master_repl_offset'] ?? 0);
}

/**
 * Masters with slots that are down (flagged, gone, or simply not answering: the cluster may not
 * have flagged them yet within its node timeout) and have a replica the operator reaches.
 */
export function findOrphanedMasters(view: ClusterView, desired: Endpoint[]): ViewNode[] {
  const unreachable = new Set(view.unreachable.map(endpointKey));
  return mastersWithSlots(view).filter(
    (m) =>
      (isDown(m) || isGone(m, desired) || (!m.report && unreachable.has(endpointKey(m)))) &&
      replicasOfNode(view, m.id).some((r) => r.report),
  );
}

/**
 * Who stands for `id` now that a migration lost it: itself while a reached master, else the one of
 * its `replicas` (as they were when the migration started) that took over.
 */
export function successorOf(view: ClusterView, id: string, replicas: string[]): string | undefined {
  const n = view.nodes.get(id);
  if (n?.report && n.role === 'master') return id;
  if (n?.report && n.role === 'replica' && n.masterId && replicas.includes(n.masterId)) return n.masterId;
  for (const r of replicas) {
    const rn = view.nodes.get(r);
    if (rn?.report && rn.role === 'master') return r;
  }
  return undefined;
}
