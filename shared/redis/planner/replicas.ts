// Replica placement for a running cluster: which free nodes to attach where, which replicas to remove.
import { isUsable } from '../topology.js';
import type { ClusterNodeView, DesiredNode, ReplicaPlan } from '../types.js';
import type { ClusterView, ViewNode } from '../view.js';
import { byName } from './common.js';

export interface ReplicaDesire {
  replicasPerMaster: number;
  /** Free nodes that may become replicas. */
  candidates: DesiredNode[];
  /** Failure domain by node id. */
  domains: Record<string, string>;
  /** Masters that should have replicas; default: usable masters that own slots. */
  masterIds?: string[];
  /** Replication offset by replica id; the lowest is the most lagging, removed first among equals. */
  offsets?: Record<string, number>;
}

/**
 * Which free nodes to attach to which master (fewest replicas first, a candidate outside the master's
 * and its replicas' domains first) and which replicas to remove where there are too many (one in its
 * master's domain first, then one sharing a domain with a sibling, then the most lagging). A replica
 * in its master's domain is swapped for a free node outside it when one is left.
 */
export function planReplicas(view: ClusterNodeView[], desired: ReplicaDesire): ReplicaPlan {
  const r = desired.replicasPerMaster;
  if (!Number.isInteger(r) || r < 0) throw new Error(`replicasPerMaster must be a non-negative integer, got ${r}`);
  const masterIds = (
    desired.masterIds ?? view.filter((n) => n.role === 'master' && isUsable(n) && n.slots.length > 0).map((n) => n.id)
  ).sort();
  for (const id of masterIds) {
    if (!view.some((n) => n.id === id && n.role === 'master')) throw new Error(`masterIds: ${id} is not a master in the view`);
  }
  const domainOf = (id: string) => desired.domains[id];
  const replicaDomains = new Map<string, (string | undefined)[]>();
  const replicasByMaster = new Map<string, ClusterNodeView[]>();
  for (const id of masterIds) {
    const replicas = view.filter((n) => n.role === 'replica' && n.masterId === id && isUsable(n));
    replicasByMaster.set(id, replicas);
    replicaDomains.set(
      id,
      replicas.map((n) => domainOf(n.id)),
    );
  }

  const attach: ReplicaPlan['attach'] = [];
  const free = [...desired.candidates].sort((a, b) => byName(a.name, b.name));
  const good = (masterId: string, c: DesiredNode) => c.domain !== domainOf(masterId) && !replicaDomains.get(masterId)!.includes(c.domain);
  for (;;) {
    const needy = masterIds.filter((id) => replicaDomains.get(id)!.length < r);
    if (needy.length === 0 || free.length === 0) break;
    needy.sort((a, b) => {
      const byCount = replicaDomains.get(a)!.length - replicaDomains.get(b)!.length;
      const options = (id: string) => free.filter((c) => good(id, c)).length;
      return byCount || options(a) - options(b) || (a < b ? -1 : 1);
    });
    const masterId = needy[0]!;
    let i = free.findIndex((c) => good(masterId, c));
    if (i < 0) i = free.findIndex((c) => c.domain !== domainOf(masterId));
    if (i < 0) i = 0;
    const node = free.splice(i, 1)[0]!;
    attach.push({ node: node.name, masterId });
    replicaDomains.get(masterId)!.push(node.domain);
  }

  // A replica in its master's domain is replaced when a free node outside that domain is left over.
  const remove: string[] = [];
  for (const masterId of masterIds) {
    const own = domainOf(masterId);
    const replicas = replicasByMaster.get(masterId)!;
    if (own === undefined || replicas.length > r) continue;
    for (const replica of [...replicas]) {
      if (domainOf(replica.id) !== own) continue;
      let i = free.findIndex((c) => good(masterId, c));
      if (i < 0) i = free.findIndex((c) => c.domain !== own);
      if (i < 0) break;
      const node = free.splice(i, 1)[0]!;
      attach.push({ node: node.name, masterId });
      replicas.splice(replicas.indexOf(replica), 1);
      const domains = replicaDomains.get(masterId)!;
      domains.splice(domains.indexOf(own), 1, node.domain);
      remove.push(replica.id);
    }
  }

  for (const masterId of masterIds) {
    const kept = [...replicasByMaster.get(masterId)!];
    const attached = attach.filter((a) => a.masterId === masterId).length;
    while (kept.length + attached > r) {
      const badness = (n: ClusterNodeView) => {
        const d = domainOf(n.id);
        if (d !== undefined && d === domainOf(masterId)) return 2;
        if (d !== undefined && kept.some((o) => o !== n && domainOf(o.id) === d)) return 1;
        return 0;
      };
      const offset = (n: ClusterNodeView) => desired.offsets?.[n.id] ?? Number.MAX_SAFE_INTEGER;
      kept.sort((a, b) => badness(b) - badness(a) || offset(a) - offset(b) || (a.id < b.id ? 1 : -1));
      remove.push(kept.shift()!.id);
    }
  }
  return { attach, remove };
}

/**
 * Replicas that follow a replica: each with the master its own master follows. A node told to
 * REPLICATE a master just as that master failed over keeps following it once it rejoins as a
 * replica of its successor; no slot change ever reaches the chained node, so Redis never moves it.
 */
export function findChainedReplicas(view: ClusterView): { replica: ViewNode; masterId: string }[] {
  const chained: { replica: ViewNode; masterId: string }[] = [];
  for (const n of view.nodes.values()) {
    if (!n.report || n.role !== 'replica' || !n.masterId) continue;
    const master = view.nodes.get(n.masterId);
    if (master?.role !== 'replica' || !master.masterId) continue;
    const top = view.nodes.get(master.masterId);
    if (top?.role === 'master' && top.slots.length > 0) chained.push({ replica: n, masterId: top.id });
  }
  return chained;
}
