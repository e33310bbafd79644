// What the discovery endpoints answer, built from one snapshot of a cluster: a live CLUSTER NODES
// read of one node, or the RedisCluster status when no node answered. Pure: snapshot in, JSON out.
import type { NodeStatus } from '../../shared/api/status.js';
import { checkCluster } from '../../shared/redis/check.js';
import { compactRanges, countSlots, formatRange, isUsable } from '../../shared/redis/topology.js';
import type { ClusterNodeView, NodeReport } from '../../shared/redis/types.js';
import type { Role } from './query.js';

/** The reference's node format, exactly: nothing but ip and port. */
export interface NodeAddress {
  ip: string;
  port: number;
}

export type AnswerSource = 'live' | 'status';

export interface ClusterSnapshot {
  name: string;
  namespace: string;
  source: AnswerSource;
  /** RFC 3339 time of the read. */
  observedAt: string;
  /** The node that answered (source live). */
  report?: NodeReport;
  /** status.nodes of the RedisCluster; names the Pods and is the answer when no node answers. */
  statusNodes: NodeStatus[];
  /** The addresses tried without an answer. */
  unreachable: { ip: string; port: number; error: string }[];
  phase?: string;
  /** spec.masters and spec.replicas, for the health check's shape expectations. */
  masters?: number;
  replicas?: number;
}

/**
 * A node worth handing to a client: a member (not in handshake, has an address), not flagged
 * failing, and linked to the node we asked (a killed node loses its link at once, long before the
 * cluster flags it `fail?` after cluster-node-timeout).
 */
export function isReachable(node: ClusterNodeView): boolean {
  if (!isUsable(node) || !node.ip || !(node.port > 0)) return false;
  return node.flags.includes('myself') || node.linkState === 'connected';
}

function byAddress(a: NodeAddress, b: NodeAddress): number {
  return a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port;
}

function addresses(nodes: Iterable<NodeAddress>): NodeAddress[] {
  const seen = new Map<string, NodeAddress>();
  for (const n of nodes) seen.set(`${n.ip}|${n.port}`, { ip: n.ip, port: n.port });
  return [...seen.values()].sort(byAddress);
}

/** The reachable members of a live view, optionally of one role. */
export function liveAddresses(view: readonly ClusterNodeView[], role?: Role): NodeAddress[] {
  return addresses(view.filter((n) => isReachable(n) && (!role || n.role === role)));
}

/** The nodes the status records, optionally of one role. */
export function statusAddresses(nodes: readonly NodeStatus[], role?: Role): NodeAddress[] {
  return addresses(nodes.filter((n) => n.ip && n.port > 0 && (!role || n.role === role)));
}

/** The answer of GET /cluster/nodes: always an array, possibly empty. */
export function nodesAnswer(snapshot: ClusterSnapshot, role?: Role): NodeAddress[] {
  return snapshot.report ? liveAddresses(snapshot.report.nodes, role) : statusAddresses(snapshot.statusNodes, role);
}

export interface TopologyNode {
  id: string;
  ip: string;
  port: number;
  pod?: string;
  role: Role;
  masterId?: string;
  /** Slot ranges, e.g. ["0-5460"]. */
  slots: string[];
  /** Flags as the observer sees them; empty when the answer comes from the status. */
  flags: string[];
  /** null when unknown (the answer comes from the status). */
  reachable: boolean | null;
}

export interface TopologyMaster extends TopologyNode {
  slotCount: number;
  replicas: TopologyNode[];
}

export interface TopologyProblem {
  code: string;
  message: string;
  nodeId?: string;
  slot?: number;
}

export interface Topology {
  name: string;
  namespace: string;
  source: AnswerSource;
  observedAt: string;
  /** The node whose CLUSTER NODES this is (source live). */
  observer?: { id: string; ip: string; port: number };
  phase?: string;
  health: {
    clusterState: 'ok' | 'fail' | 'unknown';
    slotsAssigned?: number;
    knownNodes?: number;
    problems: TopologyProblem[];
  };
  /** Masters by their first slot; masters without slots last. */
  masters: TopologyMaster[];
  nodes: TopologyNode[];
}

function podNamer(statusNodes: readonly NodeStatus[]): (id: string, ip: string, port: number) => string | undefined {
  const byId = new Map(statusNodes.map((n) => [n.id, n.pod]));
  const byAddr = new Map(statusNodes.map((n) => [`${n.ip}|${n.port}`, n.pod]));
  // By id first: an address may have passed to another node since the status was written.
  return (id, ip, port) => byId.get(id) || byAddr.get(`${ip}|${port}`) || undefined;
}

function liveNodes(report: NodeReport, statusNodes: readonly NodeStatus[]): TopologyNode[] {
  const pod = podNamer(statusNodes);
  return report.nodes.map((n) => {
    const name = pod(n.id, n.ip, n.port);
    return {
      id: n.id,
      ip: n.ip,
      port: n.port,
      ...(name ? { pod: name } : {}),
      role: n.role,
      ...(n.masterId ? { masterId: n.masterId } : {}),
      slots: compactRanges(n.slots).map(formatRange),
      flags: n.flags.filter((f) => f !== 'noflags'),
      reachable: isReachable(n),
    };
  });
}

function statusNodesView(statusNodes: readonly NodeStatus[]): TopologyNode[] {
  return statusNodes.map((n) => ({
    id: n.id,
    ip: n.ip,
    port: n.port,
    ...(n.pod ? { pod: n.pod } : {}),
    role: n.role,
    ...(n.masterId ? { masterId: n.masterId } : {}),
    slots: [...(n.slots ?? [])],
    flags: [],
    reachable: null,
  }));
}

function slotCount(ranges: readonly string[]): number {
  return countSlots(
    ranges.map((r) => {
      const [start, end = start] = r.split('-').map(Number) as [number, number?];
      return { start, end };
    }),
  );
}

function firstSlot(node: TopologyNode): number {
  const first = node.slots[0];
  return first === undefined ? Number.POSITIVE_INFINITY : Number(first.split('-')[0]);
}

/** The answer of GET /cluster/topology. */
export function topologyAnswer(snapshot: ClusterSnapshot): Topology {
  const { report } = snapshot;
  const nodes = (report ? liveNodes(report, snapshot.statusNodes) : statusNodesView(snapshot.statusNodes)).sort(byAddress);
  const masters: TopologyMaster[] = nodes
    .filter((n) => n.role === 'master')
    .map((m) => ({ ...m, slotCount: slotCount(m.slots), replicas: nodes.filter((r) => r.role === 'replica' && r.masterId === m.id) }))
    .sort((a, b) => firstSlot(a) - firstSlot(b) || byAddress(a, b));

  let health: Topology['health'];
  if (report) {
    const problems = checkCluster([report], {
      ...(snapshot.masters !== undefined ? { masters: snapshot.masters } : {}),
      ...(snapshot.replicas !== undefined ? { replicasPerMaster: snapshot.replicas } : {}),
    }).map((p) => ({
      code: p.code,
      message: p.message,
      ...(p.nodeId ? { nodeId: p.nodeId } : {}),
      ...(p.slot !== undefined ? { slot: p.slot } : {}),
    }));
    const assigned = Number(report.clusterInfo['cluster_slots_assigned']);
    const known = Number(report.clusterInfo['cluster_known_nodes']);
    health = {
      clusterState: report.clusterState,
      ...(Number.isFinite(assigned) ? { slotsAssigned: assigned } : {}),
      ...(Number.isFinite(known) ? { knownNodes: known } : {}),
      problems,
    };
  } else {
    const tried = snapshot.unreachable.map((u) => `${u.ip}:${u.port} (${u.error})`);
    health = {
      clusterState: 'unknown',
      problems: [
        {
          code: 'unreachable',
          message: tried.length
            ? `no node answered: ${tried.join(', ')}; this is the RedisCluster status`
            : 'the cluster has no known node address yet; this is the RedisCluster status',
        },
      ],
    };
  }

  return {
    name: snapshot.name,
    namespace: snapshot.namespace,
    source: snapshot.source,
    observedAt: snapshot.observedAt,
    ...(report ? { observer: { id: report.myId, ip: report.address.ip, port: report.address.port } } : {}),
    ...(snapshot.phase ? { phase: snapshot.phase } : {}),
    health,
    masters,
    nodes,
  };
}
