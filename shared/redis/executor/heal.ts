// Healing: from whatever state the reachable nodes report, do the next safe steps: re-MEET moved
// nodes, promote replicas of dead masters, re-cover lost slots (only when data loss is allowed),
// FORGET ghosts, roll open slots forward, attach missing replicas. Every step says what it did and
// what is left.
import { checkCluster } from '../check.js';
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../endpoint.js';
import { compactRanges, countSlots, formatRange, slotsToRanges } from '../topology.js';
import type { ClusterProblem, DesiredNode, EngineAction, EngineResult, Endpoint, NodeReport, SlotRange } from '../types.js';
import { SLOT_COUNT } from '../types.js';
import { decideFailover, failover, pickPromotionCandidate, replicaOffset } from './failover.js';
import { resumeOpenSlots } from './migrate.js';
import { chooseNewMaster, forgetEverywhere, reparent } from './remove.js';
import { ensureReplicas } from './replicas.js';
import { errorMessage, sleep, waitFor } from './util.js';
import { buildView, endpointOf, isDown, isFreshNode, isGone, mastersWithSlots, memberReports, readView, replicasOfNode, type ClusterView } from '../view.js';

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
}

// ---- pure decisions -------------------------------------------------------------------------

export interface MeetStep {
  /** The node that sends CLUSTER MEET. */
  from: Endpoint;
  fromId: string;
  /** The node it must (re)meet, at its current address. */
  to: { ip: string; port: number; busPort: number };
  toId: string;
  reason: string;
}

/**
 * MEETs that fix addresses: for every reachable desired node that is part of the cluster, each other
 * member that lists it at another address, as fail/noaddr, or not at all must meet it at its current
 * address; a node that advertises a stale address for itself is met by one member (an incoming MEET
 * is what makes a node re-learn its own ip). When every node moved, this is every pair.
 */
export function planAddressFixes(reports: NodeReport[], desired: DesiredNode[]): MeetStep[] {
  const byAddr = new Map(reports.map((r) => [endpointKey(r.address), r]));
  const members = reports.filter((r) => !isFreshNode(r));
  const steps: MeetStep[] = [];
  for (const d of desired) {
    const target = byAddr.get(endpointKey(d));
    if (!target || isFreshNode(target)) continue;
    const to = { ip: d.ip, port: d.port, busPort: d.busPort };
    let met = false;
    for (const r of members) {
      if (r.myId === target.myId) continue;
      const line = r.nodes.find((v) => v.id === target.myId);
      let reason: string | undefined;
      if (!line) reason = 'does not know it';
      else if (line.flags.includes('handshake')) continue;
      else if (line.ip !== d.ip || line.port !== d.port) reason = `lists it at ${line.ip || '?'}:${line.port}`;
      else if (line.flags.includes('noaddr')) reason = 'lists it as noaddr';
      else if (line.flags.includes('fail')) reason = 'lists it as failed';
      if (reason) {
        steps.push({ from: r.address, fromId: r.myId, to, toId: target.myId, reason });
        met = true;
      }
    }
    const self = target.nodes.find((v) => v.id === target.myId);
    const helper = members.find((r) => r.myId !== target.myId);
    if (!met && self && self.ip && self.ip !== d.ip && helper) {
      steps.push({ from: helper.address, fromId: helper.myId, to, toId: target.myId, reason: `it advertises itself at ${self.ip}` });
    }
  }
  return steps;
}

export interface LostShard {
  masterId: string;
  slots: SlotRange[];
  /** Its replicas, all unreachable. */
  replicaIds: string[];
}

/**
 * Shards that are gone: a master the cluster marked `fail`, that the operator cannot reach, and no
 * reachable replica of it. Slots nobody claims are reported with masterId ''.
 */
export function findLostShards(view: ClusterView): LostShard[] {
  const lost: LostShard[] = [];
  for (const m of mastersWithSlots(view)) {
    // Flagged fail, or provably gone though never flagged: every peer says noaddr because a fresh
    // node answers at its address. Not merely absent from the desired addresses: a Pod coming back
    // at a new IP is not lost, and losing it would re-cover slots that still have their keys.
    if (m.report || (m.failBy === 0 && !isGone(m))) continue;
    const replicas = replicasOfNode(view, m.id);
    if (replicas.some((r) => r.report)) continue;
    lost.push({ masterId: m.id, slots: m.slots, replicaIds: replicas.map((r) => r.id) });
  }
  const unclaimed: number[] = [];
  view.owners.forEach((o, s) => {
    if (o === undefined) unclaimed.push(s);
  });
  if (unclaimed.length) lost.push({ masterId: '', slots: slotsToRanges(unclaimed), replicaIds: [] });
  return lost;
}

/**
 * Who takes which uncovered slots: each uncovered run goes to the masters owning the adjacent
 * ranges (split in the middle when the left and right neighbours differ), so ranges stay contiguous.
 */
export function planSlotRecovery(owners: (string | undefined)[], uncovered: Set<string>): { masterId: string; ranges: SlotRange[] }[] {
  const live = owners.map((o) => (o !== undefined && !uncovered.has(o) ? o : undefined));
  if (live.every((o) => o === undefined)) throw new Error('no live master owns any slot; cannot re-cover slots');
  const assigned = new Map<string, SlotRange[]>();
  const give = (id: string, start: number, end: number) => {
    if (start > end) return;
    let list = assigned.get(id);
    if (!list) assigned.set(id, (list = []));
    list.push({ start, end });
  };
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (live[s] !== undefined) continue;
    let e = s;
    while (e + 1 < SLOT_COUNT && live[e + 1] === undefined) e++;
    const left = s > 0 ? live[s - 1] : undefined;
    const right = e + 1 < SLOT_COUNT ? live[e + 1] : undefined;
    if (left && right && left !== right) {
      const mid = Math.floor((s + e) / 2);
      give(left, s, mid);
      give(right, mid + 1, e);
    } else {
      give((left ?? right)!, s, e);
    }
    s = e;
  }
  return [...assigned].map(([masterId, ranges]) => ({ masterId, ranges: compactRanges(ranges) })).sort((a, b) => a.masterId.localeCompare(b.masterId));
}

/**
 * Ids to FORGET: known to the cluster, not a reachable desired node, flagged fail or noaddr by its
 * peers, owning no slot in anyone's view, not at the address of a desired node that is only down
 * (it may come back), not in handshake, and not protected (members of a lost shard kept for a human).
 */
export function findGhosts(view: ClusterView, reports: NodeReport[], opts: { unreachable: Endpoint[]; protect: Set<string> }): string[] {
  const down = new Set(opts.unreachable.map(endpointKey));
  const ghosts: string[] = [];
  for (const n of view.nodes.values()) {
    if (n.report || opts.protect.has(n.id)) continue;
    if (n.handshakeBy > 0 || (n.failBy === 0 && n.noaddrBy === 0)) continue;
    if (n.slots.length > 0) continue;
    if (reports.some((r) => r.nodes.some((v) => v.id === n.id && v.slots.length > 0))) continue;
    const seenAt = new Set(reports.flatMap((r) => r.nodes.filter((v) => v.id === n.id).map((v) => `${v.ip}:${v.port}`)));
    if ([...seenAt].some((a) => down.has(a))) continue;
    ghosts.push(n.id);
  }
  return ghosts.sort();
}

// ---- I/O ------------------------------------------------------------------------------------

function readState(pool: RedisPool, desired: DesiredNode[]): Promise<ClusterView> {
  return readView(pool, desired.map((d) => ({ ip: d.ip, port: d.port })));
}

function domainsById(state: ClusterView, desired: DesiredNode[]): Record<string, string> {
  const byAddr = new Map(desired.map((d) => [endpointKey(d), d.domain]));
  const out: Record<string, string> = {};
  for (const r of state.reports) {
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

async function fixAddresses(pool: RedisPool, desired: DesiredNode[], timeoutMs: number, actions: EngineAction[]): Promise<void> {
  const lastSent = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await readState(pool, desired);
    const steps = planAddressFixes(state.reports, desired);
    if (steps.length === 0 || Date.now() > deadline) return;
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

/** Waits for the cluster's own failover of `masterId`; returns the promoted replica's id. */
async function waitForAutomaticFailover(pool: RedisPool, replicas: Endpoint[], masterId: string, timeoutMs: number): Promise<string | undefined> {
  try {
    return await waitFor(`a replica of ${masterId} to be promoted`, timeoutMs, async () => {
      const { reports } = await pool.readAll(replicas);
      const promoted = reports.find((r) => r.nodes.find((v) => v.id === r.myId)?.role === 'master');
      return promoted?.myId;
    }, 250);
  } catch {
    return undefined;
  }
}

async function promoteOrphans(pool: RedisPool, desired: DesiredNode[], state: ClusterView, opts: HealOptions, actions: EngineAction[], problems: ClusterProblem[]): Promise<void> {
  const endpoints = desired.map((d) => ({ ip: d.ip, port: d.port }));
  // A master the operator cannot reach may not be flagged yet (node timeout): wait for the cluster.
  const unreachable = new Set(state.unreachable.map(endpointKey));
  const orphaned = mastersWithSlots(state).filter(
    (m) =>
      (isDown(m) || isGone(m, endpoints) || (!m.report && unreachable.has(endpointKey(m)))) &&
      replicasOfNode(state, m.id).some((r) => r.report),
  );
  if (orphaned.length === 0) return;
  const waitMs = opts.autoFailoverWaitMs ?? 2 * (await nodeTimeoutMs(pool, memberReports(state)[0]?.address)) + 2000;
  await Promise.all(
    orphaned.map(async (m) => {
      let mode = decideFailover(state, m.id, endpoints);
      let replicas = replicasOfNode(state, m.id).filter((r) => r.report);
      // A gone master is never flagged fail, so the cluster will not fail it over by itself.
      if (mode !== 'takeover' && !isGone(m, endpoints)) {
        const promoted = await waitForAutomaticFailover(pool, replicas.map(endpointOf), m.id, waitMs);
        if (promoted) {
          actions.push({ kind: 'failover', nodeId: promoted, slots: m.slots, message: `the cluster promoted replica ${promoted} in place of failed master ${m.id}` });
          return;
        }
        const now = await readState(pool, desired);
        mode = decideFailover(now, m.id, endpoints);
        replicas = replicasOfNode(now, m.id).filter((r) => r.report);
        if (mode === 'graceful') return; // the master is back
        if (mode === 'wait') {
          problems.push({ code: 'node-failing', nodeId: m.id, message: `master ${m.id} is unreachable but the cluster has not marked it failed yet` });
          return;
        }
      }
      const candidate = pickPromotionCandidate(replicas.map((r) => ({ id: r.id, offset: replicaOffset(r.report!), nofailover: r.nofailover })));
      if (!candidate) {
        problems.push({ code: 'node-failing', nodeId: m.id, message: `master ${m.id} is down and none of its replicas may be promoted` });
        return;
      }
      const target = replicas.find((r) => r.id === candidate.id)!;
      try {
        // Only members confirm: a fresh node at a dead master's address knows nobody yet.
        const confirmOn = memberReports(await readState(pool, desired)).map((r) => r.address);
        actions.push(await failover(pool, endpointOf(target), { mode: mode as 'force' | 'takeover', confirmOn, timeoutMs: opts.stepTimeoutMs ?? 20_000 }));
      } catch (err) {
        // Another promotion (e.g. one that restored the masters' majority) may have let the cluster
        // elect this replica meanwhile: that is the outcome we wanted.
        const now = await pool.readReport(endpointOf(target)).catch(() => undefined);
        const self = now?.nodes.find((v) => v.id === now.myId);
        if (self?.role !== 'master' || self.slots.length === 0) {
          problems.push({ code: 'node-failing', nodeId: m.id, message: `master ${m.id} is down and promoting ${target.id} failed: ${errorMessage(err)}` });
          return;
        }
        actions.push({ kind: 'failover', nodeId: target.id, slots: self.slots, message: `the cluster promoted replica ${target.id} in place of failed master ${m.id}` });
      }
    }),
  );
}

async function recoverLostSlots(pool: RedisPool, state: ClusterView, lost: LostShard[], timeoutMs: number, actions: EngineAction[]): Promise<void> {
  const live = memberReports(state).map((r) => r.address);
  const gone = lost.filter((l) => l.masterId !== '');
  // Forgetting the dead master unassigns its slots on every node, so a live master may claim them.
  await Promise.all(gone.flatMap((l) => [l.masterId, ...l.replicaIds]).map((id) => forgetEverywhere(pool, id, live, timeoutMs).then((a) => actions.push(a))));
  const after = buildView((await pool.readAll(live)).reports);
  const plan = planSlotRecovery(after.owners, new Set(gone.map((l) => l.masterId)));
  for (const { masterId, ranges } of plan) {
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
  await waitFor('every node to see full slot coverage', timeoutMs, async () => {
    const { reports } = await pool.readAll(live);
    const ok = reports.every((r) => r.nodes.filter((v) => v.role === 'master').reduce((n, v) => n + countSlots(v.slots), 0) === SLOT_COUNT);
    return ok ? true : undefined;
  }, 200);
}

function validateHealInput(desired: DesiredNode[], opts: HealOptions): void {
  if (desired.length === 0) throw new Error('desired: at least one node is needed');
  desired.forEach((d, i) => {
    if (!d.ip) throw new Error(`desired[${i}].ip: missing`);
    if (!Number.isInteger(d.port) || d.port <= 0 || d.port > 65535) throw new Error(`desired[${i}].port: ${d.port} is not a TCP port`);
    if (!Number.isInteger(d.busPort) || d.busPort <= 0 || d.busPort > 65535) throw new Error(`desired[${i}].busPort: ${d.busPort} is not a TCP port`);
  });
  for (const key of ['replicasPerMaster', 'masters', 'autoFailoverWaitMs', 'stepTimeoutMs', 'settleMs'] as const) {
    const v = opts[key];
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) throw new Error(`opts.${key}: ${v} must be a non-negative number`);
  }
}

const TRANSIENT = new Set<ClusterProblem['code']>(['state-not-ok', 'node-failing', 'handshake', 'replica-not-synced', 'views-disagree', 'address-mismatch']);

async function finalCheck(pool: RedisPool, desired: DesiredNode[], opts: HealOptions): Promise<{ problems: ClusterProblem[]; unreached: Set<string> }> {
  const state = await readState(pool, desired);
  const cluster = desired.filter((d) => {
    const r = state.reports.find((x) => endpointKey(x.address) === endpointKey(d));
    return !r || !isFreshNode(r);
  });
  const problems = checkCluster(memberReports(state), {
    nodes: cluster,
    unreachable: state.unreachable,
    ...(opts.replicasPerMaster !== undefined ? { replicasPerMaster: opts.replicasPerMaster } : {}),
    ...(opts.masters !== undefined ? { masters: opts.masters } : {}),
  });
  const unreached = new Set([...state.nodes.values()].filter((n) => !n.report).map((n) => n.id));
  return { problems, unreached };
}

/** Re-checks while some problem is one gossip resolves by itself (not a node that is simply down). */
async function settle(pool: RedisPool, desired: DesiredNode[], opts: HealOptions, timeoutMs: number): Promise<ClusterProblem[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { problems, unreached } = await finalCheck(pool, desired, opts);
    // With uncovered slots the state stays fail until someone re-covers them.
    const stuck = problems.some((p) => p.code === 'slots-uncovered');
    const passing = !stuck && problems.some((p) => TRANSIENT.has(p.code) && !(p.code === 'node-failing' && p.nodeId && unreached.has(p.nodeId)));
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
  const endpoints = desired.map((d) => ({ ip: d.ip, port: d.port }));

  // 1. Addresses first: until nodes can reach each other, nothing else they report is reliable.
  await fixAddresses(pool, desired, stepTimeoutMs, actions);
  if (actions.length > 0) {
    // Moved masters that were marked fail clear the flag once they answer again.
    await waitFor('the re-met nodes to be seen healthy', stepTimeoutMs, async () => {
      const s = await readState(pool, desired);
      const failing = [...s.nodes.values()].some((n) => n.report && (n.failBy > 0 || n.pfailBy > 0 || n.noaddrBy > 0));
      return failing ? undefined : true;
    }, 250).catch(() => undefined);
  }
  let state = await readState(pool, desired);
  if (memberReports(state).length === 0) {
    const problem: ClusterProblem =
      state.reports.length === 0
        ? { code: 'unreachable', message: 'no desired node answered' }
        : { code: 'state-not-ok', message: 'the desired nodes have not formed a cluster yet; healing starts once it is created' };
    return { actions, problems: [problem], done: false };
  }

  // 2. Masters that are down but have a live replica: let the cluster fail over, or do it.
  const before = actions.length;
  await promoteOrphans(pool, desired, state, opts, actions, problems);
  if (actions.length > before) state = await readState(pool, desired);

  // 3. Shards that are entirely gone: re-cover their slots empty only when data loss is allowed.
  const lost = findLostShards(state);
  const protect = new Set<string>();
  if (lost.length > 0) {
    const total = lost.reduce((n, l) => n + countSlots(l.slots), 0);
    const ranges = compactRanges(lost.flatMap((l) => l.slots)).map(formatRange).join(',');
    if (opts.allowDataLoss) {
      await recoverLostSlots(pool, state, lost, stepTimeoutMs, actions);
      state = await readState(pool, desired);
    } else {
      for (const l of lost) for (const id of [l.masterId, ...l.replicaIds]) if (id) protect.add(id);
      problems.push({
        code: 'slots-uncovered',
        slot: lost[0]!.slots[0]?.start,
        message: `${total} slots (${ranges}) have no live master or replica; their data is lost unless the nodes come back. Re-covering them empty needs allowDataLoss`,
      });
    }
  }

  // 4. Ghosts: FORGET on every member in parallel, within the 60 s ban.
  const ghosts = findGhosts(state, state.reports, { unreachable: state.unreachable, protect });
  const live = memberReports(state).map((r) => r.address);
  // A node refuses to forget its own master: live replicas of a ghost move to another master first.
  for (const id of ghosts) {
    for (const r of replicasOfNode(state, id).filter((x) => x.report)) {
      const to = chooseNewMaster(state, r.id, new Set(ghosts), domainsById(state, desired));
      if (to) actions.push(await reparent(pool, r, to, stepTimeoutMs));
    }
  }
  const forgotten = await Promise.allSettled(ghosts.map((id) => forgetEverywhere(pool, id, live, stepTimeoutMs)));
  forgotten.forEach((r, i) => {
    if (r.status === 'fulfilled') actions.push(r.value);
    else problems.push({ code: 'ghost-node', nodeId: ghosts[i], message: `could not forget ${ghosts[i]}: ${String(r.reason)}` });
  });

  // 5. Open slots: roll forward from the nodes' own flags.
  state = await readState(pool, desired);
  if (state.reports.some((r) => r.nodes.some((v) => v.id === r.myId && v.openSlots.length > 0))) {
    const resumed = await resumeOpenSlots(pool, endpoints);
    actions.push(...resumed.actions);
    problems.push(...resumed.problems);
  }

  // 6. Missing replicas, from fresh desired nodes.
  if (opts.replicasPerMaster !== undefined && state.reports.some(isFreshNode)) {
    const r = await ensureReplicas(pool, desired, {
      replicasPerMaster: opts.replicasPerMaster,
      removeSurplus: false,
      timeoutMs: stepTimeoutMs * 3,
      ...(opts.replicaCandidates ? { candidates: opts.replicaCandidates } : {}),
    });
    actions.push(...r.actions);
    problems.push(...r.problems);
  }

  // 7. What is left, by the full health check. Problems that only need gossip time (a node that just
  // rejoined stays cluster_state:fail for a moment) are waited out, briefly; anything else is reported.
  const lostSlots = problems.some((p) => p.code === 'slots-uncovered');
  const check = await settle(pool, desired, opts, lostSlots ? 0 : (opts.settleMs ?? Math.min(stepTimeoutMs, 10_000)));
  const seen = new Set(problems.map((p) => `${p.code}|${p.nodeId ?? ''}`));
  for (const p of check) if (!seen.has(`${p.code}|${p.nodeId ?? ''}`)) problems.push(p);
  return { actions, problems, done: problems.length === 0 };
}
