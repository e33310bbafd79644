// Removing a node from the cluster: re-parent its replicas, FORGET it on every other node inside
// the 60 s ban, then wipe it so it cannot gossip its way back.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import type { EngineAction, EngineResult, Endpoint, NodeReport } from '../types.js';
import { chooseNewMaster, laggingObservers, ownsNothingByItsOwnWord, slotsOwnedBy } from '../planner/remove.js';
import { endpointOf, readView, replicasOfNode, type ViewNode } from '../view.js';
import { waitFor } from './util.js';

/** Redis bans a forgotten id for 60 s; every node must be told well inside that window. */
export const FORGET_BAN_MS = 60_000;

export class RemoveRefusedError extends Error {}

export interface RemoveOptions {
  /** Every node the operator knows (the cluster's nodes); the node to remove may be among them. */
  endpoints: Endpoint[];
  /** Explicit new master per replica id of the removed node; others are chosen (fewest replicas, domain). */
  replacementMasterFor?: Record<string, string>;
  /** Failure domain per node id, for choosing where a re-parented replica goes. */
  domains?: Record<string, string>;
  timeoutMs?: number;
  /** How long to wait for lagging views when the node itself owns no slot; default SLOT_CONVERGENCE_MS. */
  convergenceTimeoutMs?: number;
}

/** How long removal waits for every view to agree that a node which says it owns nothing really does. */
export const SLOT_CONVERGENCE_MS = 15_000;

/**
 * Sends CLUSTER FORGET id to every reachable node (except the node itself) in parallel, and repeats
 * on the nodes that still list it (gossip race) until none does, all inside the 60 s ban.
 */
export async function forgetEverywhere(pool: RedisPool, id: string, endpoints: Endpoint[], timeoutMs = 20_000): Promise<EngineAction> {
  const started = Date.now();
  const budget = Math.min(timeoutMs, FORGET_BAN_MS - 10_000);
  let told = 0;
  let refusal: string | undefined;
  await waitFor(
    `every node to forget ${id}`,
    budget,
    async () => {
      const { reports } = await pool.readAll(endpoints);
      const remembering = reports.filter((r) => r.myId !== id && r.nodes.some((v) => v.id === id));
      if (remembering.length === 0) return true;
      const results = await Promise.allSettled(remembering.map((r) => pool.call(r.address, 'CLUSTER', 'FORGET', id)));
      told += results.filter((x) => x.status === 'fulfilled').length;
      const refused = results.find((x): x is PromiseRejectedResult => x.status === 'rejected' && /master/i.test(String(x.reason)));
      if (refused) {
        refusal = `FORGET ${id} refused: ${String(refused.reason)}`;
        return true;
      }
      return undefined;
    },
    200,
  );
  if (refusal) throw new Error(refusal);
  return {
    kind: 'forget',
    nodeId: id,
    message: `forgot ${id} on every reachable node (${told} FORGET sent in ${Date.now() - started} ms)`,
  };
}

/** Empties a removed node and makes it forget the cluster (new id), so it can never gossip back. */
export async function wipeNode(pool: RedisPool, endpoint: Endpoint, expectId: string): Promise<EngineAction | undefined> {
  let report: NodeReport;
  try {
    report = await pool.readReport(endpoint);
  } catch {
    return undefined;
  }
  if (report.myId !== expectId) return undefined;
  const self = report.nodes.find((v) => v.id === report.myId)!;
  if (self.role === 'master' && report.keys > 0) await pool.call(endpoint, 'FLUSHALL');
  await pool.call(endpoint, 'CLUSTER', 'RESET', 'HARD');
  return { kind: 'reset', nodeId: expectId, message: `flushed and hard-reset removed node ${expectId} (${endpointKey(endpoint)})` };
}

/** CLUSTER REPLICATE on a replica (retried while gossip has not told it about the master). */
export async function reparent(pool: RedisPool, replica: ViewNode, masterId: string, timeoutMs: number): Promise<EngineAction> {
  const ep = endpointOf(replica);
  await waitFor(`${replica.id} to replicate ${masterId}`, timeoutMs, async () => {
    try {
      await pool.call(ep, 'CLUSTER', 'REPLICATE', masterId);
      return true;
    } catch (err) {
      if (/Unknown node/i.test(String(err))) return undefined;
      throw err;
    }
  });
  return { kind: 'replicate', nodeId: replica.id, message: `re-parented replica ${replica.id} to master ${masterId}` };
}

/**
 * Removes a node that owns no slots (a drained master or a replica): re-parents its replicas,
 * waits until no node lists it as a master, FORGETs it everywhere, verifies, then FLUSHALL +
 * CLUSTER RESET HARD on it when it is reachable. Works when the node is dead.
 * Refuses (RemoveRefusedError) a master that still owns slots: draining is the migration's job.
 */
export async function removeNode(pool: RedisPool, nodeId: string, opts: RemoveOptions): Promise<EngineResult> {
  if (!/^[0-9a-f]{40}$/.test(nodeId)) throw new Error(`nodeId: "${nodeId}" is not a 40-character cluster node id`);
  if (opts.endpoints.length === 0) throw new Error('opts.endpoints: at least one node of the cluster is needed');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const actions: EngineAction[] = [];
  let view = await readView(pool, opts.endpoints, { discover: true });
  let target = view.nodes.get(nodeId);
  if (!target) {
    return { actions, problems: [], done: true };
  }
  let owned = slotsOwnedBy(view, nodeId);
  if (owned > 0 && ownsNothingByItsOwnWord(target)) {
    // Just drained: the node says it owns nothing but gossip has not reached every peer yet.
    const settled = await waitFor(
      `every node to see ${nodeId} without slots`,
      opts.convergenceTimeoutMs ?? SLOT_CONVERGENCE_MS,
      async () => {
        const now = await readView(pool, opts.endpoints, { discover: true });
        const node = now.nodes.get(nodeId);
        if (node && !ownsNothingByItsOwnWord(node)) return now; // it claims slots again: refuse below
        return !node || slotsOwnedBy(now, nodeId) === 0 ? now : undefined;
      },
      250,
    ).catch(() => undefined);
    if (settled) view = settled;
    const now = view.nodes.get(nodeId);
    if (!now) return { actions, problems: [], done: true };
    target = now;
    owned = slotsOwnedBy(view, nodeId);
  }
  if (owned > 0) {
    const lagging = ownsNothingByItsOwnWord(target)
      ? ` (it says it owns none, but ${laggingObservers(view.reports, nodeId).join(', ')} still see them)`
      : '';
    throw new RemoveRefusedError(`refusing to remove master ${nodeId}: it still owns ${owned} slots${lagging}; drain it first`);
  }
  // Keys on a master without slots are strays of a broken migration, perhaps the only copy.
  if (target.role === 'master' && target.report && target.report.keys > 0) {
    throw new RemoveRefusedError(`refusing to remove master ${nodeId}: it owns no slot but still holds ${target.report.keys} keys`);
  }

  const others = view.reports.filter((r) => r.myId !== nodeId).map((r) => r.address);
  const replicas = replicasOfNode(view, nodeId);
  const extra = new Map<string, number>();
  for (const r of replicas) {
    if (!r.report) continue; // a dead replica is simply forgotten later
    const chosen = opts.replacementMasterFor?.[r.id] ?? chooseNewMaster(view, r.id, new Set([nodeId]), opts.domains, extra);
    if (!chosen) throw new Error(`no master left to take replica ${r.id} of ${nodeId}`);
    extra.set(chosen, (extra.get(chosen) ?? 0) + 1);
    actions.push(await reparent(pool, r, chosen, timeoutMs));
  }
  // Dead replicas keep their last line in everyone's view; only live nodes can move.
  await waitFor(`no live node to be listed as a replica of ${nodeId}`, timeoutMs, async () => {
    const { reports: now } = await pool.readAll(others);
    const live = new Set(now.map((r) => r.myId));
    return now.every((r) => r.nodes.every((v) => !live.has(v.id) || v.masterId !== nodeId)) ? true : undefined;
  });

  actions.push(await forgetEverywhere(pool, nodeId, others, timeoutMs));
  const wiped = target.report ? await wipeNode(pool, target.report.address, nodeId) : undefined;
  if (wiped) actions.push(wiped);
  // The removed node kept pinging during FORGET; re-check now that it no longer knows anyone.
  const { reports: after } = await pool.readAll(others);
  const stillKnown = after.filter((r) => r.nodes.some((v) => v.id === nodeId));
  if (stillKnown.length) actions.push(await forgetEverywhere(pool, nodeId, others, timeoutMs));
  actions.push({
    kind: 'node-removed',
    nodeId,
    message: `removed ${target.role} ${nodeId} (${target.ip}:${target.port})${target.report ? '' : ', which was unreachable'}`,
  });
  return { actions, problems: [], done: true };
}

/** Removes a surplus replica (dead or alive); refuses a node that is not a replica. */
export async function removeReplica(pool: RedisPool, replicaId: string, opts: RemoveOptions): Promise<EngineResult> {
  const view = await readView(pool, opts.endpoints, { discover: true });
  const node = view.nodes.get(replicaId);
  if (node && node.role !== 'replica') throw new RemoveRefusedError(`refusing to remove ${replicaId} as a replica: it is a master`);
  return removeNode(pool, replicaId, opts);
}
