// Replica promotion (CLUSTER FAILOVER and its FORCE / TAKEOVER variants), as planner/failover.ts
// decides it.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import type { EngineAction, Endpoint } from '../types.js';
import type { FailoverMode } from '../planner/failover.js';
import { waitFor } from './util.js';

export interface FailoverOptions {
  mode?: FailoverMode;
  /** How long to wait for the role flip; a graceful failover gives up on its own after 5 s. */
  timeoutMs?: number;
  /** Endpoints of other nodes that must see the replica as a master before this returns. */
  confirmOn?: Endpoint[];
  /** The master being replaced, when it is up: it must say it is a replica (ROLE) before this returns. */
  formerMaster?: Endpoint;
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
    throw new Error(
      `failover: replica ${before.myId} has master_link_status:${before.replication['master_link_status'] ?? '?'}; a graceful failover needs a live master`,
    );
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
  if (opts.formerMaster) {
    const former = opts.formerMaster;
    await waitFor(`${endpointKey(former)} to become a replica`, timeoutMs, async () => {
      const role = (await pool.call(former, 'ROLE')) as unknown[];
      return role[0] === 'slave' ? true : undefined;
    });
  }
  return {
    kind: 'failover',
    nodeId: before.myId,
    slots: masterSlots,
    message: `${mode} failover: replica ${before.myId} (${endpointKey(replica)}) replaced master ${masterId}`,
  };
}
