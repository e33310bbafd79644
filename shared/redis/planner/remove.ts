// Removal decisions: whether a node still owns slots in any view, and where its replicas go. Pure.
import { countSlots } from '../topology.js';
import type { NodeReport } from '../types.js';
import { mastersWithSlots, replicasOfNode, type ClusterView, type ViewNode } from '../view.js';

/**
 * The most slots any view gives the node: the merged owner map and every observer's line for it.
 * Removal is conservative: one view still listing a slot there is enough to wait or refuse.
 */
export function slotsOwnedBy(view: ClusterView, nodeId: string): number {
  const claims = view.reports.flatMap((r) => r.nodes.filter((v) => v.id === nodeId && v.role === 'master').map((v) => countSlots(v.slots)));
  return Math.max(countSlots(view.nodes.get(nodeId)?.slots ?? []), ...claims, 0);
}

/** True when the operator reached the node and its own `myself` line claims no slot. */
export function ownsNothingByItsOwnWord(node: ViewNode): boolean {
  const self = node.report?.nodes.find((v) => v.id === node.id);
  return self !== undefined && (self.role === 'replica' || self.slots.length === 0);
}

/** The observers that still list the node as a master with slots. */
export function laggingObservers(reports: NodeReport[], nodeId: string): string[] {
  return reports.filter((r) => r.nodes.some((v) => v.id === nodeId && v.role === 'master' && v.slots.length > 0)).map((r) => r.myId);
}

/**
 * The master a replica moves to: among `masters` (never `excluding`), first one whose domain differs
 * from the replica's and from its siblings', then by fewest replicas, then by id for determinism.
 */
export function chooseNewMaster(
  view: ClusterView,
  replicaId: string,
  excluding: Set<string>,
  domains: Record<string, string> = {},
  extraReplicas: Map<string, number> = new Map(),
): string | undefined {
  const replicaDomain = domains[replicaId];
  const scored = mastersWithSlots(view)
    .filter((m) => !excluding.has(m.id) && m.id !== replicaId)
    .map((m) => {
      const siblings = replicasOfNode(view, m.id).filter((r) => !excluding.has(r.id));
      const count = siblings.length + (extraReplicas.get(m.id) ?? 0);
      let clash = 0;
      if (replicaDomain !== undefined) {
        if (domains[m.id] === replicaDomain) clash += 100;
        clash += siblings.filter((s) => domains[s.id] === replicaDomain).length;
      }
      return { id: m.id, clash, count };
    })
    .sort((a, b) => a.clash - b.clash || a.count - b.count || a.id.localeCompare(b.id));
  return scored[0]?.id;
}
