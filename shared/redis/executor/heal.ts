// Healing: from whatever state the reachable nodes report, do the next safe steps: re-MEET moved
// nodes, promote replicas of dead masters, re-cover lost slots (only when data loss is allowed),
// FORGET ghosts, roll open slots forward, attach missing replicas. Every step says what it did and
// what is left.
import { checkCluster } from '../check.js';
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import { decideFailover, findOrphanedMasters, pickPromotionCandidate, replicaOffset } from '../planner/failover.js';
import { findGhosts, findLostShards, lostShardsProblem, planAddressFixes, planSlotRecovery, type LostShard } from '../planner/heal.js';
import { chooseNewMaster } from '../planner/remove.js';
import { countSlots, formatRange } from '../topology.js';
import {
  SLOT_COUNT,
  type ClusterProblem,
  type DesiredNode,
  type EngineAction,
  type EngineResult,
  type Endpoint,
  type StepOutcome,
} from '../types.js';
import {
  endpointOf,
  isFreshNode,
  isGone,
  liveReplicasOf,
  memberReports,
  openSlotsOf,
  readView,
  type ClusterView,
  type ViewNode,
} from '../view.js';
import { failover } from './failover.js';
import { handOverLeaving } from './handover.js';
import { resumeOpenSlots } from './migrate/open-slots.js';
import { forgetEverywhere, reparent } from './remove.js';
import { ensureReplicas, unchainReplicas } from './replicas.js';
import { waitFor } from './util.js';
import { errorMessage } from '../../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HealOptions {
  /** Re-cover slots whose master and every replica are gone, empty. Loses their keys. */
  allowDataLoss?: boolean;
  /** When set, fresh desired nodes are attached until every master has this many replicas. */
  replicasPerMaster?: number;
  /**
   * Names of the fresh desired nodes that may be attached as replicas; default all of them. A caller
   * about to join new masters (scale-out) lists only the others, so heal does not take them.
   */
  replicaCandidates?: string[];
  /** Expected number of slot-owning masters, for the final check. */
  masters?: number;
  /** How long the cluster's own failover may take before FORCE; default 2 x node timeout + 2 s. */
  autoFailoverWaitMs?: number;
  /** Bound of each waiting step (convergence after MEET, FORGET, failover). */
  stepTimeoutMs?: number;
  /**
   * How long the final check waits out problems gossip resolves by itself; default the step
   * timeout, at most 10 s. A caller that looks again anyway (reconcile's rounds) passes 0.
   */
  settleMs?: number;
  /** Addresses of nodes whose Pods are being deleted: a master among them hands over its shard first. */
  leaving?: Endpoint[];
}

const NOTHING: StepOutcome = { actions: [], problems: [] };

const endpointsOf = (desired: DesiredNode[]): Endpoint[] => desired.map((d) => ({ ip: d.ip, port: d.port }));

/** The view of the desired nodes only: a node they list elsewhere is not read. */
function readDesiredView(pool: RedisPool, desired: DesiredNode[]): Promise<ClusterView> {
  return readView(pool, endpointsOf(desired));
}

function domainsById(view: ClusterView, desired: DesiredNode[]): Record<string, string> {
  const byAddr = new Map(desired.map((d) => [endpointKey(d), d.domain]));
  const out: Record<string, string> = {};
  for (const r of view.reports) {
    const domain = byAddr.get(endpointKey(r.address));
    if (domain !== undefined) out[r.myId] = domain;
  }
  return out;
}

async function nodeTimeoutMs(pool: RedisPool, at: Endpoint | undefined): Promise<number> {
  if (!at) return 15_000;
  try {
    const reply = (await pool.call(at, 'CONFIG', 'GET', 'cluster-node-timeout')) as string[];
    return Number(reply[1] ?? 15_000);
  } catch {
    return 15_000;
  }
}

/** Sends the MEETs planAddressFixes asks for (each pair at most every 3 s) until none is left. */
async function fixAddresses(pool: RedisPool, desired: DesiredNode[], timeoutMs: number): Promise<EngineAction[]> {
  const actions: EngineAction[] = [];
  const lastSent = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const steps = planAddressFixes((await readDesiredView(pool, desired)).reports, desired);
    if (steps.length === 0 || Date.now() > deadline) return actions;
    const due = steps.filter((s) => Date.now() - (lastSent.get(`${s.fromId}>${s.toId}`) ?? 0) > 3000);
    await Promise.allSettled(
      due.map(async (s) => {
        const args: (string | number)[] = ['MEET', s.to.ip, s.to.port];
        if (s.to.busPort !== s.to.port + 10000) args.push(s.to.busPort);
        await pool.call(s.from, 'CLUSTER', ...args);
        const first = !lastSent.has(`${s.fromId}>${s.toId}`);
        lastSent.set(`${s.fromId}>${s.toId}`, Date.now());
        if (first) {
          actions.push({ kind: 'meet', nodeId: s.toId, message: `${s.fromId} met ${s.toId} at ${s.to.ip}:${s.to.port} (${s.reason})` });
        }
      }),
    );
    await sleep(300);
  }
}

/** Moved masters that were marked fail clear the flag once they answer again; waits for that, bounded. */
async function waitReMetHealthy(pool: RedisPool, desired: DesiredNode[], timeoutMs: number): Promise<void> {
  await waitFor(
    'the re-met nodes to be seen healthy',
    timeoutMs,
    async () => {
      const view = await readDesiredView(pool, desired);
      const failing = [...view.nodes.values()].some((n) => n.report && (n.failBy > 0 || n.pfailBy > 0 || n.noaddrBy > 0));
      return failing ? undefined : true;
    },
    250,
  ).catch(() => undefined);
}

/** Waits for the cluster's own failover of `masterId`; returns the promoted replica's id. */
async function waitForAutomaticFailover(
  pool: RedisPool,
  replicas: Endpoint[],
  masterId: string,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    return await waitFor(
      `a replica of ${masterId} to be promoted`,
      timeoutMs,
      async () => {
        const { reports } = await pool.readAll(replicas);
        const promoted = reports.find((r) => r.nodes.find((v) => v.id === r.myId)?.role === 'master');
        return promoted?.myId;
      },
      250,
    );
  } catch {
    return undefined;
  }
}

/** FORCE or TAKEOVER on the best replica of a down master. */
async function promoteReplica(
  pool: RedisPool,
  desired: DesiredNode[],
  m: ViewNode,
  replicas: ViewNode[],
  mode: 'force' | 'takeover',
  timeoutMs: number,
): Promise<StepOutcome> {
  const candidate = pickPromotionCandidate(replicas.map((r) => ({ id: r.id, offset: replicaOffset(r.report!), nofailover: r.nofailover })));
  if (!candidate) {
    return {
      actions: [],
      problems: [{ code: 'node-failing', nodeId: m.id, message: `master ${m.id} is down and none of its replicas may be promoted` }],
    };
  }
  const target = replicas.find((r) => r.id === candidate.id)!;
  try {
    // Only members confirm: a fresh node at a dead master's address knows nobody yet.
    const confirmOn = memberReports(await readDesiredView(pool, desired)).map((r) => r.address);
    return { actions: [await failover(pool, endpointOf(target), { mode, confirmOn, timeoutMs })], problems: [] };
  } catch (err) {
    // Another promotion (e.g. one that restored the masters' majority) may have let the cluster
    // elect this replica meanwhile: that is the outcome we wanted.
    const now = await pool.readReport(endpointOf(target)).catch(() => undefined);
    const self = now?.nodes.find((v) => v.id === now.myId);
    if (self?.role !== 'master' || self.slots.length === 0) {
      return {
        actions: [],
        problems: [
          { code: 'node-failing', nodeId: m.id, message: `master ${m.id} is down and promoting ${target.id} failed: ${errorMessage(err)}` },
        ],
      };
    }
    return {
      actions: [
        {
          kind: 'failover',
          nodeId: target.id,
          slots: self.slots,
          message: `the cluster promoted replica ${target.id} in place of failed master ${m.id}`,
        },
      ],
      problems: [],
    };
  }
}

/** One down master with a live replica: let the cluster fail it over, or do it. */
async function promoteOrphan(
  pool: RedisPool,
  desired: DesiredNode[],
  view: ClusterView,
  m: ViewNode,
  waitMs: number,
  stepTimeoutMs: number,
): Promise<StepOutcome> {
  const endpoints = endpointsOf(desired);
  let mode = decideFailover(view, m.id, endpoints);
  let replicas = liveReplicasOf(view, m.id);
  // A gone master is never flagged fail, so the cluster will not fail it over by itself.
  if (mode !== 'takeover' && !isGone(m, endpoints)) {
    const promoted = await waitForAutomaticFailover(pool, replicas.map(endpointOf), m.id, waitMs);
    if (promoted) {
      return {
        actions: [
          {
            kind: 'failover',
            nodeId: promoted,
            slots: m.slots,
            message: `the cluster promoted replica ${promoted} in place of failed master ${m.id}`,
          },
        ],
        problems: [],
      };
    }
    const now = await readDesiredView(pool, desired);
    mode = decideFailover(now, m.id, endpoints);
    replicas = liveReplicasOf(now, m.id);
    if (mode === 'graceful') return NOTHING; // the master is back
    if (mode === 'wait') {
      return {
        actions: [],
        problems: [
          { code: 'node-failing', nodeId: m.id, message: `master ${m.id} is unreachable but the cluster has not marked it failed yet` },
        ],
      };
    }
  }
  return promoteReplica(pool, desired, m, replicas, mode as 'force' | 'takeover', stepTimeoutMs);
}

async function promoteOrphans(
  pool: RedisPool,
  desired: DesiredNode[],
  view: ClusterView,
  opts: HealOptions,
  stillServing: Set<string>,
): Promise<StepOutcome> {
  const orphaned = findOrphanedMasters(view, endpointsOf(desired)).filter((m) => !stillServing.has(m.id));
  if (orphaned.length === 0) return NOTHING;
  const waitMs = opts.autoFailoverWaitMs ?? 2 * (await nodeTimeoutMs(pool, memberReports(view)[0]?.address)) + 2000;
  const outcomes = await Promise.all(orphaned.map((m) => promoteOrphan(pool, desired, view, m, waitMs, opts.stepTimeoutMs ?? 20_000)));
  return { actions: outcomes.flatMap((o) => o.actions), problems: outcomes.flatMap((o) => o.problems) };
}

async function recoverLostSlots(pool: RedisPool, view: ClusterView, lost: LostShard[], timeoutMs: number): Promise<EngineAction[]> {
  const live = memberReports(view).map((r) => r.address);
  const gone = lost.filter((l) => l.masterId !== '');
  // Forgetting the dead master unassigns its slots on every node, so a live master may claim them.
  const actions = await Promise.all(
    gone.flatMap((l) => [l.masterId, ...l.replicaIds]).map((id) => forgetEverywhere(pool, id, live, timeoutMs)),
  );
  const after = await readView(pool, live);
  for (const { masterId, ranges } of planSlotRecovery(after.owners, new Set(gone.map((l) => l.masterId)))) {
    const node = after.nodes.get(masterId);
    if (!node?.report) throw new Error(`master ${masterId} chosen to re-cover slots is not reachable`);
    const ep = node.report.address;
    await pool.call(ep, 'CLUSTER', 'ADDSLOTSRANGE', ...ranges.flatMap((r) => [r.start, r.end]));
    // A fresh, unique epoch makes this claim win over any stale one still gossiped.
    await pool.call(ep, 'CLUSTER', 'BUMPEPOCH');
    actions.push({
      kind: 'slots-recovered-empty',
      nodeId: masterId,
      slots: ranges,
      message: `DATA LOSS: ${countSlots(ranges)} slots (${ranges.map(formatRange).join(',')}) whose master and replicas are all gone were re-covered empty by ${masterId}`,
    });
  }
  await waitFor(
    'every node to see full slot coverage',
    timeoutMs,
    async () => {
      const { reports } = await pool.readAll(live);
      const ok = reports.every(
        (r) => r.nodes.filter((v) => v.role === 'master').reduce((n, v) => n + countSlots(v.slots), 0) === SLOT_COUNT,
      );
      return ok ? true : undefined;
    },
    200,
  );
  return actions;
}

/**
 * Shards that are entirely gone: their slots are re-covered empty only when data loss is allowed;
 * otherwise their nodes are protected from FORGET (kept for a human) and the loss is reported.
 */
async function handleLostShards(
  pool: RedisPool,
  view: ClusterView,
  allowDataLoss: boolean,
  timeoutMs: number,
): Promise<StepOutcome & { protect: Set<string> }> {
  const lost = findLostShards(view);
  const protect = new Set<string>();
  if (lost.length === 0) return { ...NOTHING, protect };
  if (allowDataLoss) return { actions: await recoverLostSlots(pool, view, lost, timeoutMs), problems: [], protect };
  for (const l of lost) for (const id of [l.masterId, ...l.replicaIds]) if (id) protect.add(id);
  return { actions: [], problems: [lostShardsProblem(lost)], protect };
}

/** FORGETs ghosts on every member in parallel, within the 60 s ban. */
async function forgetGhosts(
  pool: RedisPool,
  desired: DesiredNode[],
  view: ClusterView,
  protect: Set<string>,
  timeoutMs: number,
): Promise<StepOutcome> {
  const ghosts = findGhosts(view, { unreachable: view.unreachable, protect });
  const live = memberReports(view).map((r) => r.address);
  const actions: EngineAction[] = [];
  const problems: ClusterProblem[] = [];
  // A node refuses to forget its own master: live replicas of a ghost move to another master first.
  for (const id of ghosts) {
    for (const r of liveReplicasOf(view, id)) {
      const to = chooseNewMaster(view, r.id, new Set(ghosts), domainsById(view, desired));
      if (to) actions.push(await reparent(pool, r, to, timeoutMs));
    }
  }
  const forgotten = await Promise.allSettled(ghosts.map((id) => forgetEverywhere(pool, id, live, timeoutMs)));
  forgotten.forEach((r, i) => {
    if (r.status === 'fulfilled') actions.push(r.value);
    else problems.push({ code: 'ghost-node', nodeId: ghosts[i], message: `could not forget ${ghosts[i]}: ${String(r.reason)}` });
  });
  return { actions, problems };
}

function validateHealInput(desired: DesiredNode[], opts: HealOptions): void {
  if (desired.length === 0) throw new Error('desired: at least one node is needed');
  desired.forEach((d, i) => {
    if (!d.ip) throw new Error(`desired[${i}].ip: missing`);
    if (!Number.isInteger(d.port) || d.port <= 0 || d.port > 65535) throw new Error(`desired[${i}].port: ${d.port} is not a TCP port`);
    if (!Number.isInteger(d.busPort) || d.busPort <= 0 || d.busPort > 65535)
      throw new Error(`desired[${i}].busPort: ${d.busPort} is not a TCP port`);
  });
  for (const key of ['replicasPerMaster', 'masters', 'autoFailoverWaitMs', 'stepTimeoutMs', 'settleMs'] as const) {
    const v = opts[key];
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw new Error(`opts.${key}: ${v} must be a non-negative number`);
  }
}

const TRANSIENT = new Set<ClusterProblem['code']>([
  'state-not-ok',
  'node-failing',
  'handshake',
  'replica-not-synced',
  'views-disagree',
  'address-mismatch',
]);

async function finalCheck(
  pool: RedisPool,
  desired: DesiredNode[],
  opts: HealOptions,
): Promise<{ problems: ClusterProblem[]; unreached: Set<string> }> {
  const view = await readDesiredView(pool, desired);
  const cluster = desired.filter((d) => {
    const r = view.reports.find((x) => endpointKey(x.address) === endpointKey(d));
    return !r || !isFreshNode(r);
  });
  const problems = checkCluster(memberReports(view), {
    nodes: cluster,
    unreachable: view.unreachable,
    ...(opts.replicasPerMaster !== undefined ? { replicasPerMaster: opts.replicasPerMaster } : {}),
    ...(opts.masters !== undefined ? { masters: opts.masters } : {}),
  });
  const unreached = new Set([...view.nodes.values()].filter((n) => !n.report).map((n) => n.id));
  return { problems, unreached };
}

/** Re-checks while some problem is one gossip resolves by itself (not a node that is simply down). */
async function settle(pool: RedisPool, desired: DesiredNode[], opts: HealOptions, timeoutMs: number): Promise<ClusterProblem[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { problems, unreached } = await finalCheck(pool, desired, opts);
    // With uncovered slots the state stays fail until someone re-covers them.
    const stuck = problems.some((p) => p.code === 'slots-uncovered');
    const passing =
      !stuck && problems.some((p) => TRANSIENT.has(p.code) && !(p.code === 'node-failing' && p.nodeId && unreached.has(p.nodeId)));
    if (!passing || Date.now() > deadline) return problems;
    await sleep(250);
  }
}

/**
 * Does the next safe healing steps for the cluster formed by `desired` and reports what it did and
 * what remains. Idempotent: on a healthy cluster it does nothing and returns done.
 */
export async function heal(pool: RedisPool, desired: DesiredNode[], opts: HealOptions = {}): Promise<EngineResult> {
  validateHealInput(desired, opts);
  const stepTimeoutMs = opts.stepTimeoutMs ?? 20_000;
  const actions: EngineAction[] = [];
  const problems: ClusterProblem[] = [];
  // True when the step changed the cluster, so the view must be read again.
  const record = (o: StepOutcome): boolean => {
    actions.push(...o.actions);
    problems.push(...o.problems);
    return o.actions.length > 0;
  };

  // 1. Addresses first: until nodes can reach each other, nothing else they report is reliable.
  if (record({ actions: await fixAddresses(pool, desired, stepTimeoutMs), problems: [] }))
    await waitReMetHealthy(pool, desired, stepTimeoutMs);
  let view = await readDesiredView(pool, desired);
  if (memberReports(view).length === 0) {
    const problem: ClusterProblem =
      view.reports.length === 0
        ? { code: 'unreachable', message: 'no desired node answered' }
        : { code: 'state-not-ok', message: 'the desired nodes have not formed a cluster yet; healing starts once it is created' };
    return { actions, problems: [problem], done: false };
  }
  // 2. Masters whose Pods are going hand over while they still answer; masters that are down but
  // have a live replica: let the cluster fail over, or do it.
  // A handover normally takes well under a second; one that hangs (the master exiting under it)
  // gives way to FORCE on the next round instead of holding the shard's writes.
  const handover = await handOverLeaving(pool, view, opts.leaving ?? [], Math.min(stepTimeoutMs, 3000));
  if (record(handover)) view = await readDesiredView(pool, desired);
  if (record(await promoteOrphans(pool, desired, view, opts, handover.alive))) view = await readDesiredView(pool, desired);
  // 3. Shards that are entirely gone.
  const lost = await handleLostShards(pool, view, opts.allowDataLoss ?? false, stepTimeoutMs);
  if (record(lost)) view = await readDesiredView(pool, desired);
  // 4. Ghosts.
  if (record(await forgetGhosts(pool, desired, view, lost.protect, stepTimeoutMs))) view = await readDesiredView(pool, desired);
  // 4b. Replicas following a replica.
  if (record(await unchainReplicas(pool, view, stepTimeoutMs))) view = await readDesiredView(pool, desired);
  // 5. Open slots: roll forward from the nodes' own flags.
  if (openSlotsOf(view).length > 0) record(await resumeOpenSlots(pool, endpointsOf(desired)));
  // 6. Missing replicas, from fresh desired nodes.
  if (opts.replicasPerMaster !== undefined && view.reports.some(isFreshNode)) {
    const candidates = opts.replicaCandidates ? { candidates: opts.replicaCandidates } : {};
    record(
      await ensureReplicas(pool, desired, {
        replicasPerMaster: opts.replicasPerMaster,
        removeSurplus: false,
        timeoutMs: stepTimeoutMs * 3,
        ...candidates,
      }),
    );
  }
  // 7. What is left, by the full health check. Problems that only need gossip time (a node that just
  // rejoined stays cluster_state:fail for a moment) are waited out, briefly; anything else is reported.
  const lostSlots = problems.some((p) => p.code === 'slots-uncovered');
  const check = await settle(pool, desired, opts, lostSlots ? 0 : (opts.settleMs ?? Math.min(stepTimeoutMs, 10_000)));
  const seen = new Set(problems.map((p) => `${p.code}|${p.nodeId ?? ''}`));
  for (const p of check) if (!seen.has(`${p.code}|${p.nodeId ?? ''}`)) problems.push(p);
  return { actions, problems, done: problems.length === 0 };
}
