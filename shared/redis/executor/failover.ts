// Replica promotion (CLUSTER FAILOVER and its FORCE / TAKEOVER variants) and the merged view of
// the cluster that healing, removal and replica changes decide from.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../connection.js';
import { slotsToRanges } from '../topology.js';
import type { ClusterNodeView, EngineAction, Endpoint, NodeReport, SlotRange } from '../types.js';
import { SLOT_COUNT } from '../types.js';
import { waitFor } from './util.js';

// ---- the cluster as the reachable nodes see it (pure) -------------------------------------

export interface MergedNode {
  id: string;
  /** Best-known address: the node's own endpoint when reachable, else what most peers say. */
  ip: string;
  port: number;
  busPort: number;
  role: 'master' | 'replica';
  masterId?: string;
  /** Slots it owns after resolving conflicting claims by config epoch, like Redis does. */
  slots: SlotRange[];
  configEpoch: number;
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

export interface MergedView {
  nodes: Map<string, MergedNode>;
  /** Owner id per slot (index = slot), undefined when nobody claims it. */
  owners: (string | undefined)[];
}

/** Down as far as the cluster is concerned: not reached by the operator and flagged by a peer. */
export function isDown(n: MergedNode): boolean {
  return !n.report && (n.failBy > 0 || n.pfailBy > 0 || n.noaddrBy > 0);
}

/** Merges every reachable node's CLUSTER NODES into one view; a node's own report wins for itself. */
export function mergeReports(reports: NodeReport[]): MergedView {
  const nodes = new Map<string, MergedNode>();
  const own = new Map(reports.map((r) => [r.myId, r]));
  const lines = new Map<string, ClusterNodeView[]>();
  for (const r of reports) {
    for (const v of r.nodes) {
      let list = lines.get(v.id);
      if (!list) lines.set(v.id, (list = []));
      list.push(v);
    }
  }
  const owners: (string | undefined)[] = new Array(SLOT_COUNT).fill(undefined);
  const epochs: number[] = new Array(SLOT_COUNT).fill(-1);
  for (const r of reports) {
    for (const v of r.nodes) {
      if (v.role !== 'master') continue;
      for (const range of v.slots) {
        for (let s = range.start; s <= range.end; s++) {
          if (v.configEpoch > epochs[s]!) {
            epochs[s] = v.configEpoch;
            owners[s] = v.id;
          }
        }
      }
    }
  }
  const owned = new Map<string, number[]>();
  owners.forEach((id, s) => {
    if (id === undefined) return;
    let list = owned.get(id);
    if (!list) owned.set(id, (list = []));
    list.push(s);
  });
  for (const [id, views] of lines) {
    const report = own.get(id);
    const self = report?.nodes.find((v) => v.id === id && v.flags.includes('myself'));
    const peers = views.filter((v) => !v.flags.includes('myself'));
    const base = self ?? mostCommonAddress(peers) ?? views[0]!;
    const roleSource = self ?? majorityRole(peers) ?? base;
    const node: MergedNode = {
      id,
      ip: report ? report.address.ip : base.ip,
      port: report ? report.address.port : base.port,
      busPort: base.busPort,
      role: roleSource.role,
      slots: slotsToRanges(owned.get(id) ?? []),
      configEpoch: Math.max(...views.map((v) => v.configEpoch)),
      seenBy: peers.length,
      failBy: peers.filter((v) => v.flags.includes('fail')).length,
      pfailBy: peers.filter((v) => v.flags.includes('fail?')).length,
      noaddrBy: peers.filter((v) => v.flags.includes('noaddr')).length,
      handshakeBy: peers.filter((v) => v.flags.includes('handshake')).length,
      nofailover: base.flags.includes('nofailover'),
    };
    if (roleSource.masterId) node.masterId = roleSource.masterId;
    if (report) node.report = report;
    nodes.set(id, node);
  }
  return { nodes, owners };
}

function mostCommonAddress(views: ClusterNodeView[]): ClusterNodeView | undefined {
  const counts = new Map<string, { n: number; v: ClusterNodeView }>();
  for (const v of views) {
    if (!v.ip) continue;
    const key = `${v.ip}:${v.port}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { n: 1, v });
  }
  return [...counts.values()].sort((a, b) => b.n - a.n)[0]?.v;
}

function majorityRole(views: ClusterNodeView[]): ClusterNodeView | undefined {
  const counts = new Map<string, { n: number; v: ClusterNodeView }>();
  for (const v of views) {
    const key = `${v.role}:${v.masterId ?? ''}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { n: 1, v });
  }
  return [...counts.values()].sort((a, b) => b.n - a.n)[0]?.v;
}

export function mastersWithSlots(view: MergedView): MergedNode[] {
  return [...view.nodes.values()].filter((n) => n.role === 'master' && n.slots.length > 0);
}

export function replicasOfNode(view: MergedView, masterId: string): MergedNode[] {
  return [...view.nodes.values()].filter((n) => n.role === 'replica' && n.masterId === masterId);
}

export function endpointOf(n: MergedNode): Endpoint {
  return { ip: n.ip, port: n.port };
}

// ---- failover decisions (pure) ------------------------------------------------------------

export type FailoverMode = 'graceful' | 'force' | 'takeover';

/**
 * What to do for a master whose replicas may need promoting:
 * - its master is healthy: a graceful failover (no write is lost);
 * - a majority of the slot-owning masters is down: TAKEOVER, the only variant that needs no vote;
 * - the cluster marked it `fail`: FORCE (the automatic failover should win first; the caller waits);
 * - only `fail?` (or not flagged yet): wait, the cluster has not agreed it is down.
 */
export function decideFailover(view: MergedView, masterId: string): FailoverMode | 'wait' {
  const master = view.nodes.get(masterId);
  if (!master) throw new Error(`master ${masterId} is not known to any reachable node`);
  const masters = mastersWithSlots(view);
  const down = masters.filter(isDown).length;
  if (masters.length > 0 && down * 2 >= masters.length && isDown(master)) return 'takeover';
  if (master.report && master.failBy === 0 && master.pfailBy === 0) return 'graceful';
  if (master.failBy > 0) return 'force';
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

// ---- I/O ------------------------------------------------------------------------------------

export interface FailoverOptions {
  mode?: FailoverMode;
  /** How long to wait for the role flip; a graceful failover gives up on its own after 5 s. */
  timeoutMs?: number;
  /** Endpoints of other nodes that must see the replica as a master before this returns. */
  confirmOn?: Endpoint[];
}

/**
 * Promotes the replica at `replica` and verifies it: ROLE says master on the replica and its own
 * CLUSTER NODES shows it owning the slots its master had (and every `confirmOn` node agrees).
 * A graceful failover that times out (the master did not answer) is retried once.
 */
export async function failover(pool: RedisPool, replica: Endpoint, opts: FailoverOptions = {}): Promise<EngineAction> {
  const mode = opts.mode ?? 'graceful';
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const before = await pool.readReport(replica);
  const me = before.nodes.find((v) => v.id === before.myId)!;
  if (me.role !== 'replica' || !me.masterId) {
    throw new Error(`failover: ${endpointKey(replica)} (${before.myId}) is not a replica`);
  }
  const masterId = me.masterId;
  if (mode === 'graceful' && before.replication['master_link_status'] !== 'up') {
    // The master must hand over its offset; with the link down only FORCE or TAKEOVER can work.
    throw new Error(`failover: replica ${before.myId} has master_link_status:${before.replication['master_link_status'] ?? '?'}; a graceful failover needs a live master`);
  }
  const masterSlots = before.nodes.find((v) => v.id === masterId)?.slots ?? [];
  const attempts = mode === 'graceful' ? 2 : 1;
  for (let attempt = 1; ; attempt++) {
    const args = mode === 'graceful' ? ['FAILOVER'] : ['FAILOVER', mode.toUpperCase()];
    await pool.call(replica, 'CLUSTER', ...args);
    try {
      await waitFor(`${before.myId} to become master`, mode === 'graceful' ? Math.min(timeoutMs, 7000) : timeoutMs, async () => {
        const role = (await pool.call(replica, 'ROLE')) as unknown[];
        if (role[0] !== 'master') return undefined;
        const report = await pool.readReport(replica);
        const self = report.nodes.find((v) => v.id === report.myId)!;
        if (self.role !== 'master') return undefined;
        if (masterSlots.length > 0 && self.slots.length === 0) return undefined;
        return true;
      });
      break;
    } catch (err) {
      if (attempt >= attempts) throw err;
    }
  }
  if (opts.confirmOn?.length) {
    await waitFor(`the cluster to see ${before.myId} as master`, timeoutMs, async () => {
      const { reports } = await pool.readAll(opts.confirmOn!);
      const ok = reports.every((r) => r.nodes.find((v) => v.id === before.myId)?.role === 'master');
      return ok ? true : undefined;
    });
  }
  return {
    kind: 'failover',
    nodeId: before.myId,
    slots: masterSlots,
    message: `${mode} failover: replica ${before.myId} (${endpointKey(replica)}) replaced master ${masterId}`,
  };
}
