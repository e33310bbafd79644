// Replica promotion (CLUSTER FAILOVER and its FORCE / TAKEOVER variants): when to promote, whom,
// and doing it.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import type { EngineAction, Endpoint, NodeReport } from '../types.js';
import { isDown, isGone, mastersWithSlots, type ClusterView, type ViewNode } from '../view.js';
import { waitFor } from './util.js';

// ---- failover decisions (pure) ------------------------------------------------------------

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
