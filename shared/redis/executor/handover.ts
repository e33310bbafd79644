// Masters that are leaving (their Pod is being deleted) but still answer hand their shard to their
// most caught-up replica with a graceful CLUSTER FAILOVER. Promoting a replica with FORCE while the
// old master still takes writes loses every write it acknowledged past the replica's offset; once
// it has exited, Redis's shutdown has already waited for its replicas, and FORCE is safe.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import { pickPromotionCandidate, replicaOffset } from '../planner/failover.js';
import type { Endpoint, StepOutcome } from '../types.js';
import { endpointOf, liveReplicasOf, memberReports, type ClusterView } from '../view.js';
import { failover } from './failover.js';
import { errorMessage } from '../../errors.js';

export interface Handover extends StepOutcome {
  /** Ids of leaving masters that still answered: not to be promoted over by FORCE this round. */
  alive: Set<string>;
}

/** Hands over the shard of every leaving master that still answers and has an in-sync replica. */
export async function handOverLeaving(pool: RedisPool, view: ClusterView, leaving: Endpoint[], timeoutMs: number): Promise<Handover> {
  const { reports } = await pool.readAll(leaving);
  const masters = reports.filter((r) => {
    const me = r.nodes.find((v) => v.id === r.myId);
    return me?.role === 'master' && me.slots.length > 0;
  });
  const alive = new Set(masters.map((r) => r.myId));
  const confirmOn = memberReports(view).map((r) => r.address);
  const outcomes = await Promise.all(
    masters.map(async (r): Promise<StepOutcome> => {
      const replicas = liveReplicasOf(view, r.myId).filter((n) => n.report!.replication['master_link_status'] === 'up');
      const candidate = pickPromotionCandidate(
        replicas.map((n) => ({ id: n.id, offset: replicaOffset(n.report!), nofailover: n.nofailover })),
      );
      if (!candidate) return { actions: [], problems: [] };
      const target = replicas.find((n) => n.id === candidate.id)!;
      try {
        const action = await failover(pool, endpointOf(target), { mode: 'graceful', timeoutMs, confirmOn });
        return { actions: [{ ...action, message: `${action.message} before its Pod (${endpointKey(r.address)}) goes` }], problems: [] };
      } catch (err) {
        const message = `master ${r.myId} is leaving; handing its shard to ${target.id} failed: ${errorMessage(err)}`;
        return { actions: [], problems: [{ code: 'node-failing', nodeId: r.myId, message }] };
      }
    }),
  );
  return { alive, actions: outcomes.flatMap((o) => o.actions), problems: outcomes.flatMap((o) => o.problems) };
}
