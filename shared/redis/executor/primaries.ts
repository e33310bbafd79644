// Moving a master to another machine, as planner/primaries.ts chose it: a graceful failover to one
// of its replicas, then a short wait for the cluster to settle around the new roles.
import type { RedisPool } from '../connection.js';
import { checkCluster } from '../check.js';
import type { EngineAction, Endpoint } from '../types.js';
import { failover } from './failover.js';
import { waitFor } from './util.js';

export interface MovePrimaryOptions {
  /** Every node of the cluster: each must see the replica as master, and then agree with the others. */
  endpoints: Endpoint[];
  /** Bound of the role swap, and again of the settling. */
  timeoutMs?: number;
}

/**
 * Promotes `replica` with a graceful CLUSTER FAILOVER (no acknowledged write is lost: its master
 * stops writes until the replica has caught up) and confirms it on every node. Then waits until
 * every node reports a clean cluster (views agreeing, the old master syncing as a replica done), so
 * the next look does not take the moment after the swap for a cluster in trouble. Throws when the
 * swap is not confirmed in time; a cluster slower to settle is left to the next look.
 */
export async function movePrimary(pool: RedisPool, replica: Endpoint, opts: MovePrimaryOptions): Promise<EngineAction> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const action = await failover(pool, replica, { mode: 'graceful', timeoutMs, confirmOn: opts.endpoints });
  await waitFor(
    'the cluster to settle after the failover',
    timeoutMs,
    async () => {
      const { reports, unreachable } = await pool.readAll(opts.endpoints);
      return unreachable.length === 0 && checkCluster(reports).length === 0 ? true : undefined;
    },
    200,
  ).catch(() => undefined);
  return action;
}
