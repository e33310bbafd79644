// Changing the number of replicas per master: attach empty nodes as replicas (MEET, REPLICATE,
// wait for the replication link) and remove surplus ones, as the planner decides.
import { viewsAgree } from '../check.js';
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import { findChainedReplicas, planReplicas } from '../planner/replicas.js';
import { isUsable } from '../topology.js';
import type { ClusterNodeView, ClusterProblem, DesiredNode, EngineAction, EngineResult, Endpoint, StepOutcome } from '../types.js';
import { errorMessage } from '../../errors.js';
import { removeReplica, reparent } from './remove.js';
import { isFreshNode, mergedView, readView, type ClusterView } from '../view.js';
import { waitFor } from './util.js';

export interface AttachOptions {
  /** A node already in the cluster to MEET when the new node knows nobody. */
  seed: Endpoint;
  seedBusPort?: number;
  timeoutMs?: number;
}

/** How long the node being attached may fail to answer before the attach gives up on it. */
const UNREACHABLE_GIVE_UP_MS = 5000;

/**
 * Makes the node at `node` a synced replica of `masterId`: MEET the seed when it does not know the
 * master yet, REPLICATE (retried while gossip has not told it about the master), then wait until
 * `master_link_status:up` with no sync in progress.
 */
export async function attachReplica(pool: RedisPool, node: Endpoint, masterId: string, opts: AttachOptions): Promise<EngineAction[]> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const actions: EngineAction[] = [];
  const report = await pool.readReport(node);
  const self = report.nodes.find((v) => v.id === report.myId)!;
  if (self.role === 'master' && self.slots.length > 0) {
    throw new Error(`attachReplica: ${endpointKey(node)} is a master owning slots; it cannot become a replica`);
  }
  if (!report.nodes.some((v) => v.id === masterId)) {
    const busPort = opts.seedBusPort ?? opts.seed.port + 10000;
    const args: (string | number)[] = ['MEET', opts.seed.ip, opts.seed.port];
    if (busPort !== opts.seed.port + 10000) args.push(busPort);
    await pool.call(node, 'CLUSTER', ...args);
    actions.push({ kind: 'meet', nodeId: report.myId, message: `${report.myId} (${endpointKey(node)}) met ${endpointKey(opts.seed)}` });
  }
  if (self.masterId !== masterId) {
    await waitFor(
      `${report.myId} to accept REPLICATE ${masterId}`,
      timeoutMs,
      async () => {
        try {
          await pool.call(node, 'CLUSTER', 'REPLICATE', masterId);
          return true;
        } catch (err) {
          // Gossip has not yet told the new node about the master.
          if (/Unknown node/i.test(String(err))) return undefined;
          throw err;
        }
      },
      200,
    );
    actions.push({
      kind: 'replicate',
      nodeId: report.myId,
      message: `${report.myId} (${endpointKey(node)}) replicates master ${masterId}`,
    });
  }
  let unreachableSince: number | undefined;
  const outcome = await waitFor(
    `${report.myId} to sync from ${masterId}`,
    timeoutMs,
    async () => {
      let r;
      try {
        r = await pool.readReport(node);
        unreachableSince = undefined;
      } catch (err) {
        // Its process is gone (a deleted Pod): a new one is a fresh node for the next pass to place.
        unreachableSince ??= Date.now();
        const since = Date.now() - unreachableSince;
        if (since >= UNREACHABLE_GIVE_UP_MS) return `unreachable for ${since} ms (${errorMessage(err)})`;
        throw err;
      }
      const me = r.nodes.find((v) => v.id === r.myId)!;
      const gone = masterGone(r.nodes, masterId);
      if (gone) return gone;
      const synced =
        me.masterId === masterId && r.replication['master_link_status'] === 'up' && r.replication['master_sync_in_progress'] === '0';
      return synced ? 'synced' : undefined;
    },
    200,
  );
  // A failed master or a dead node never completes a sync: waiting out the timeout would hold the whole step.
  if (outcome !== 'synced') throw new Error(`attachReplica: ${report.myId} (${endpointKey(node)}) gave up: ${outcome}`);
  return actions;
}

/** Why the master cannot be synced from, as the new node sees it; undefined while it can. */
function masterGone(nodes: ClusterNodeView[], masterId: string): string | undefined {
  const master = nodes.find((v) => v.id === masterId);
  if (!master) return `master ${masterId} is unknown to it`;
  if (master.flags.includes('fail')) return `master ${masterId} has failed`;
  if (master.role !== 'master') return `${masterId} is no longer a master`;
  return undefined;
}

export interface EnsureReplicasOptions {
  replicasPerMaster: number;
  /** Remove replicas beyond replicasPerMaster (default true); healing only adds. */
  removeSurplus?: boolean;
  /** Names of the desired nodes that may become replicas; default every fresh desired node. */
  candidates?: string[];
  timeoutMs?: number;
}

/**
 * Brings every slot-owning master to `replicasPerMaster` replicas: fresh desired nodes are attached
 * where the planner puts them, surplus replicas are removed (forgotten and reset, so they become
 * fresh nodes again). Returns what was done and what is still missing.
 */
export async function ensureReplicas(pool: RedisPool, desired: DesiredNode[], opts: EnsureReplicasOptions): Promise<EngineResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const map = await readView(
    pool,
    desired.map((d) => ({ ip: d.ip, port: d.port })),
    { discover: true },
  );
  const byAddr = new Map(map.reports.map((r) => [endpointKey(r.address), r]));
  const members = map.reports.filter((r) => !isFreshNode(r));
  if (members.length === 0) throw new Error('ensureReplicas: no reachable node is part of a cluster');
  const allowed = opts.candidates ? new Set(opts.candidates) : undefined;
  const candidates = desired.filter((d) => {
    const r = byAddr.get(endpointKey(d));
    return r !== undefined && isFreshNode(r) && (!allowed || allowed.has(d.name));
  });
  const domains: Record<string, string> = {};
  for (const d of desired) {
    const r = byAddr.get(endpointKey(d));
    if (r) domains[r.myId] = d.domain;
  }
  const view = mergedView(members);
  const plan = planReplicas(view, { replicasPerMaster: opts.replicasPerMaster, candidates, domains });
  const seed = members.find((r) => r.nodes.find((v) => v.id === r.myId)?.role === 'master') ?? members[0]!;
  const seedSelf = seed.nodes.find((v) => v.id === seed.myId)!;
  const byName = new Map(desired.map((d) => [d.name, d]));
  const endpoints = desired.map((d) => ({ ip: d.ip, port: d.port }));

  const actions: EngineAction[] = [];
  const errors: string[] = [];
  const attached = await Promise.allSettled(
    plan.attach.map(async ({ node, masterId }) => {
      const d = byName.get(node);
      if (!d) throw new Error(`planner chose unknown node ${node}`);
      return attachReplica(pool, { ip: d.ip, port: d.port }, masterId, { seed: seed.address, seedBusPort: seedSelf.busPort, timeoutMs });
    }),
  );
  for (const r of attached) {
    if (r.status === 'fulfilled') actions.push(...r.value);
    else errors.push(String(r.reason instanceof Error ? r.reason.message : r.reason));
  }
  const surplus = opts.removeSurplus === false ? [] : plan.remove;
  const removed = await Promise.allSettled(surplus.map((id) => removeReplica(pool, id, { endpoints, timeoutMs })));
  for (const r of removed) {
    if (r.status === 'fulfilled') actions.push(...r.value.actions);
    else errors.push(String(r.reason instanceof Error ? r.reason.message : r.reason));
  }
  const problems: ClusterProblem[] = errors.map((message) => ({ code: 'replica-missing' as const, message }));
  if (actions.length > 0) {
    const converged = await waitForAgreement(pool, endpoints, timeoutMs);
    if (!converged) problems.push({ code: 'views-disagree', message: 'the nodes did not agree on the new replicas in time' });
  }
  return { actions, problems, done: problems.length === 0 };
}

/** Waits until every cluster member lists the same nodes, all connected and none failing. */
export async function waitForAgreement(pool: RedisPool, endpoints: Endpoint[], timeoutMs: number): Promise<boolean> {
  try {
    return await waitFor(
      'the nodes to agree on the cluster',
      timeoutMs,
      async () => {
        const { reports } = await pool.readAll(endpoints);
        const members = reports.filter((r) => !isFreshNode(r));
        const healthy = members.every((r) => r.nodes.every((v) => v.id === r.myId || (v.linkState === 'connected' && isUsable(v))));
        return healthy && viewsAgree(members) ? true : undefined;
      },
      200,
    );
  } catch {
    return false;
  }
}

/** Re-points each replica that follows a replica to the master its master follows. */
export async function unchainReplicas(pool: RedisPool, view: ClusterView, timeoutMs: number): Promise<StepOutcome> {
  const outcome: StepOutcome = { actions: [], problems: [] };
  for (const { replica, masterId } of findChainedReplicas(view)) {
    try {
      outcome.actions.push(await reparent(pool, replica, masterId, timeoutMs));
    } catch (err) {
      outcome.problems.push({
        code: 'replica-missing',
        nodeId: masterId,
        message: `could not re-point ${replica.id}: ${errorMessage(err)}`,
      });
    }
  }
  return outcome;
}
