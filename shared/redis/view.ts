// The one model of a cluster the engine decides from: every reachable node's CLUSTER NODES merged
// into one view (each slot's owner by config epoch, each node's best-known address and role, what
// its peers flag it), and the one reader that builds it. Everything but readView is pure.
import type { RedisPool } from './connection.js';
import { endpointKey } from './endpoint.js';
import { slotsToRanges } from './topology.js';
import { SLOT_COUNT, type ClusterNodeView, type Endpoint, type NodeReport, type OpenSlot, type SlotRange } from './types.js';

export interface ViewNode {
  id: string;
  /** Best-known address: the node's own endpoint when reachable, else what most peers say. */
  ip: string;
  port: number;
  busPort: number;
  /** Its own word when reachable, else what most peers say. */
  role: 'master' | 'replica';
  masterId?: string;
  /** Slots it owns after resolving conflicting claims by config epoch, like Redis does. */
  slots: SlotRange[];
  configEpoch: number;
  /**
   * The line that speaks for it: its own `myself` line when it answered (only it knows its open
   * slots and its own claim), otherwise the line of the address most peers list it at.
   */
  line: ClusterNodeView;
  /** Its own report, when the operator reached it. */
  report?: NodeReport;
  /** How many reachable peers list it, and how many of those flag it fail / fail? / noaddr / handshake. */
  seenBy: number;
  failBy: number;
  pfailBy: number;
  noaddrBy: number;
  handshakeBy: number;
  nofailover: boolean;
}

export interface ClusterView {
  /** Nodes that answered first (in report order), then the ones only their peers list. */
  nodes: Map<string, ViewNode>;
  /** Owner id per slot (index = slot), undefined when nobody claims it. */
  owners: (string | undefined)[];
  /** The reports it was built from, one per node reached. */
  reports: NodeReport[];
  /** Endpoints asked that did not answer. */
  unreachable: Endpoint[];
}

/** The claim with the highest config epoch in any view wins: that is what the cluster converges to. */
function ownersByEpoch(reports: NodeReport[]): (string | undefined)[] {
  const owners: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
  const epochs: number[] = new Array<number>(SLOT_COUNT).fill(-1);
  for (const r of reports) {
    for (const v of r.nodes) {
      if (v.role !== 'master') continue;
      for (const range of v.slots) {
        for (let s = range.start; s <= range.end && s < SLOT_COUNT; s++) {
          if (v.configEpoch > epochs[s]!) {
            epochs[s] = v.configEpoch;
            owners[s] = v.id;
          }
        }
      }
    }
  }
  return owners;
}

function mostCommon(views: ClusterNodeView[], key: (v: ClusterNodeView) => string | undefined): ClusterNodeView | undefined {
  const counts = new Map<string, { n: number; v: ClusterNodeView }>();
  for (const v of views) {
    const k = key(v);
    if (k === undefined) continue;
    const c = counts.get(k);
    if (c) c.n++;
    else counts.set(k, { n: 1, v });
  }
  return [...counts.values()].sort((a, b) => b.n - a.n)[0]?.v;
}

function mergeNode(id: string, views: ClusterNodeView[], report: NodeReport | undefined, slots: number[]): ViewNode {
  const self = report?.nodes.find((v) => v.id === id);
  const peers = views.filter((v) => !v.flags.includes('myself'));
  const line = self ?? mostCommon(peers, (v) => (v.ip ? `${v.ip}:${v.port}` : undefined)) ?? views[0]!;
  const roleSource = self ?? mostCommon(peers, (v) => `${v.role}:${v.masterId ?? ''}`) ?? line;
  const node: ViewNode = {
    id,
    ip: report ? report.address.ip : line.ip,
    port: report ? report.address.port : line.port,
    busPort: line.busPort,
    role: roleSource.role,
    slots: slotsToRanges(slots),
    configEpoch: Math.max(...views.map((v) => v.configEpoch)),
    line,
    seenBy: peers.length,
    failBy: peers.filter((v) => v.flags.includes('fail')).length,
    pfailBy: peers.filter((v) => v.flags.includes('fail?')).length,
    noaddrBy: peers.filter((v) => v.flags.includes('noaddr')).length,
    handshakeBy: peers.filter((v) => v.flags.includes('handshake')).length,
    nofailover: line.flags.includes('nofailover'),
  };
  if (roleSource.masterId) node.masterId = roleSource.masterId;
  if (report) node.report = report;
  return node;
}

/** Merges the reports into one view; a node's own report wins for itself (the first, if it answered twice). */
export function buildView(reports: NodeReport[], unreachable: Endpoint[] = []): ClusterView {
  const own = new Map<string, NodeReport>();
  for (const r of reports) if (!own.has(r.myId)) own.set(r.myId, r);
  const lines = new Map<string, ClusterNodeView[]>();
  for (const r of reports) if (!lines.has(r.myId)) lines.set(r.myId, []);
  for (const r of reports) {
    for (const v of r.nodes) {
      let list = lines.get(v.id);
      if (!list) lines.set(v.id, (list = []));
      list.push(v);
    }
  }
  const owners = ownersByEpoch(reports);
  const owned = new Map<string, number[]>();
  owners.forEach((id, s) => {
    if (id === undefined) return;
    let list = owned.get(id);
    if (!list) owned.set(id, (list = []));
    list.push(s);
  });
  const nodes = new Map<string, ViewNode>();
  for (const [id, views] of lines) {
    if (views.length > 0) nodes.set(id, mergeNode(id, views, own.get(id), owned.get(id) ?? []));
  }
  return { nodes, owners, reports, unreachable };
}

/** One line per node id, as the merged view speaks for it (see ViewNode.line). */
export function mergedView(reports: NodeReport[]): ClusterNodeView[] {
  return [...buildView(reports).nodes.values()].map((n) => n.line);
}

export interface ReadViewOptions {
  /**
   * Also read the nodes the endpoints list but the caller did not (e.g. restarted elsewhere), and
   * keep one report per node id. Off when only the given endpoints count (healing the desired nodes).
   */
  discover?: boolean;
}

function dedupe(endpoints: Endpoint[]): Endpoint[] {
  return [...new Map(endpoints.map((e) => [endpointKey(e), e])).values()];
}

/** Reads the endpoints (and with `discover`, every node they report) and merges what they say. */
export async function readView(pool: RedisPool, endpoints: Endpoint[], opts: ReadViewOptions = {}): Promise<ClusterView> {
  const asked = dedupe(endpoints);
  const first = await pool.readAll(asked);
  const reports = first.reports;
  const unreachable = first.unreachable.map((u) => u.endpoint);
  if (!opts.discover) return buildView(reports, unreachable);
  const seen = new Set(asked.map(endpointKey));
  const extra: Endpoint[] = [];
  for (const r of reports) {
    for (const v of r.nodes) {
      const ep = { ip: v.ip, port: v.port };
      if (v.ip && v.port && !seen.has(endpointKey(ep)) && !v.flags.includes('fail') && !v.flags.includes('handshake')) {
        seen.add(endpointKey(ep));
        extra.push(ep);
      }
    }
  }
  if (extra.length) {
    const more = await pool.readAll(extra);
    reports.push(...more.reports);
    unreachable.push(...more.unreachable.map((u) => u.endpoint));
  }
  const byId = new Map<string, NodeReport>();
  for (const r of reports) if (!byId.has(r.myId)) byId.set(r.myId, r);
  return buildView([...byId.values()], unreachable);
}

// ---- questions asked of a view ----------------------------------------------------------------

/** A node that has never joined a cluster: knows only itself, owns no slot, holds no key. */
export function isFreshNode(report: NodeReport): boolean {
  const self = report.nodes.find((v) => v.id === report.myId);
  return (
    report.nodes.length === 1 &&
    report.keys === 0 &&
    self !== undefined &&
    self.role === 'master' &&
    self.slots.length === 0 &&
    self.openSlots.length === 0
  );
}

/** The reports of the nodes that have joined a cluster (fresh nodes left out). */
export function memberReports(view: ClusterView): NodeReport[] {
  return view.reports.filter((r) => !isFreshNode(r));
}

/** A slot open on one node, by that node's own word. */
export interface NodeOpenSlot extends OpenSlot {
  nodeId: string;
}

/** Every slot a reached node has open, from its own `myself` line (only it knows), in report order. */
export function openSlotsOf(view: ClusterView): NodeOpenSlot[] {
  return view.reports.flatMap((r) => (r.nodes.find((v) => v.id === r.myId)?.openSlots ?? []).map((o) => ({ ...o, nodeId: r.myId })));
}

/** Down as far as the cluster is concerned: not reached by the operator and flagged by a peer. */
export function isDown(n: ViewNode): boolean {
  return !n.report && (n.failBy > 0 || n.pfailBy > 0 || n.noaddrBy > 0);
}

/**
 * Gone for good, though Redis may never flag it `fail`: not reached, and either every peer that
 * lists it says `noaddr` (a fresh node answers at its old address, so no one pings it any more) or,
 * when the desired addresses are known, it is not at any of them.
 */
export function isGone(n: ViewNode, desired?: Endpoint[]): boolean {
  if (n.report) return false;
  if (n.seenBy > 0 && n.noaddrBy === n.seenBy) return true;
  if (desired === undefined) return false;
  const key = endpointKey(n);
  return !n.ip || !desired.some((d) => endpointKey(d) === key);
}

export function mastersWithSlots(view: ClusterView): ViewNode[] {
  return [...view.nodes.values()].filter((n) => n.role === 'master' && n.slots.length > 0);
}

export function replicasOfNode(view: ClusterView, masterId: string): ViewNode[] {
  return [...view.nodes.values()].filter((n) => n.role === 'replica' && n.masterId === masterId);
}

/** Masters the operator reached (by their own word). */
export function liveMasters(view: ClusterView): ViewNode[] {
  return [...view.nodes.values()].filter((n) => n.report && n.role === 'master');
}

/** Replicas of `masterId` the operator reached (by their own word). */
export function liveReplicasOf(view: ClusterView, masterId: string): ViewNode[] {
  return replicasOfNode(view, masterId).filter((n) => n.report);
}

export function endpointOf(n: ViewNode): Endpoint {
  return { ip: n.ip, port: n.port };
}

/** Where node `id` is; throws when no view lists it. */
export function nodeEndpoint(view: ClusterView, id: string): Endpoint {
  const n = view.nodes.get(id);
  if (!n) throw new Error(`node ${id} is not known to the cluster`);
  return endpointOf(n);
}
