// Primary balance, the decision: after failovers a machine (Kubernetes node) may hold more masters
// than the placement of the replicas requires; one graceful CLUSTER FAILOVER at a time moves them
// back (shared/redis/planner/primaries.ts). Pure. Only for an idle cluster: decide takes it once the
// cluster is in shape, and here no reshard may be requested or running and every Pod must be ready.
import { planPrimaryMove, shardLayouts } from '../../shared/redis/planner/primaries.js';
import { endpointOf } from '../../shared/redis/view.js';
import type { Step } from './decide.js';
import { podEndpoint, type ClusterPicture, type Observation, type PodInfo } from './observe.js';

export type MovePrimary = Extract<Step, { kind: 'move-primary' }>;

/** The machine a Pod's node runs on: its Kubernetes node, or with the host's network, that address. */
function machineOf(p: PodInfo, hostNetwork: boolean): string | undefined {
  return p.node ?? (hostNetwork ? p.ip : undefined);
}

/** The failover that spreads the masters over the machines more evenly, if any. */
export function primaryStep(o: Observation, cluster: ClusterPicture): MovePrimary | undefined {
  if (o.reshard.running || o.reshard.requested || o.reshard.paused || !o.pods.every((p) => p.ready && !p.deleting)) return undefined;
  const podById = new Map<string, PodInfo>();
  for (const p of o.pods) {
    const report = cluster.reports.get(p.name);
    if (report && cluster.members.has(p.name)) podById.set(report.myId, p);
  }
  const pod = (id: string) => podById.get(id);
  const shards = shardLayouts(cluster.view, (id) => {
    const p = pod(id);
    return p && machineOf(p, o.spec.hostNetwork);
  });
  const move = shards && planPrimaryMove(shards);
  const replica = move && cluster.view.nodes.get(move.replicaId);
  if (!move || !replica) return undefined;
  const name = (id: string) => pod(id)?.name ?? id;
  const chain = move.moves > 1 ? `; the first of ${move.moves} failovers that together move a master to ${move.toward}` : '';
  return {
    kind: 'move-primary',
    replica: endpointOf(replica),
    endpoints: [...podById.values()].map(podEndpoint),
    message:
      `${name(move.replicaId)} on ${move.to} took over from master ${name(move.masterId)} on ${move.from}: ` +
      `${move.from} held ${move.heldFrom} of ${move.masters} masters and ${move.to} ${move.heldTo}${chain}`,
  };
}
