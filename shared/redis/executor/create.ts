// Forming a cluster, incrementally: every step checks what the nodes already say and only adds
// what is missing, so running it on a formed cluster changes nothing and a half-formed one is
// completed. A node that already knows others or owns slots is never reset.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { RedisPool } from '../connection.js';
import { compactRanges, formatRange, rangesToSlots, slotsToRanges } from '../topology.js';
import type { ClusterProblem, CreatePlan, DesiredNode, EngineAction, EngineResult, Endpoint, NodeReport, StepOutcome } from '../types.js';
import { waitFor } from './util.js';
import { errorMessage } from '../../errors.js';

export interface CreateOptions {
  /** How long to wait for all nodes to know each other and agree on the slot map. */
  joinTimeoutMs?: number;
  /** How long to wait for replicas to finish their first sync. */
  replicationTimeoutMs?: number;
}

const DEFAULT_BUS_OFFSET = 10000;

function myself(r: NodeReport) {
  const me = r.nodes.find((n) => n.flags.includes('myself'));
  if (!me) throw new Error(`${r.address.ip}:${r.address.port}: no myself line`);
  return me;
}

function knownNodes(r: NodeReport): number {
  return Number(r.clusterInfo['cluster_known_nodes'] ?? r.nodes.length);
}

/** The slot map a node believes in, as a comparable string (redis-cli's config signature). */
export function slotSignature(r: NodeReport): string {
  return r.nodes
    .filter((n) => n.role === 'master' && n.slots.length > 0)
    .map((n) => `${n.id}:${compactRanges(n.slots).map(formatRange).join(',')}`)
    .sort()
    .join('|');
}

async function ipLiteral(host: string): Promise<string> {
  if (isIP(host)) return host;
  // CLUSTER MEET accepts only an IP literal.
  return (await lookup(host)).address;
}

function validatePlan(desired: DesiredNode[], plan: CreatePlan): void {
  const names = new Set(desired.map((d) => d.name));
  for (const [i, m] of plan.masters.entries())
    if (!names.has(m.node)) throw new Error(`plan.masters[${i}].node: "${m.node}" is not one of the desired nodes`);
  for (const [i, r] of plan.replicas.entries()) {
    if (!names.has(r.node)) throw new Error(`plan.replicas[${i}].node: "${r.node}" is not one of the desired nodes`);
    if (!plan.masters.some((m) => m.node === r.masterNode))
      throw new Error(`plan.replicas[${i}].masterNode: "${r.masterNode}" is not a planned master`);
  }
}

/** The desired nodes' reports by node name, and the endpoints that did not answer. */
interface Reading {
  byName: Map<string, NodeReport>;
  unreachable: { endpoint: Endpoint; error: string }[];
}

async function readByName(pool: RedisPool, desired: DesiredNode[]): Promise<Reading> {
  const { reports, unreachable } = await pool.readAll(desired.map((d) => ({ ip: d.ip, port: d.port })));
  const byName = new Map<string, NodeReport>();
  desired.forEach((d) => {
    const r = reports.find((x) => x.address.ip === d.ip && x.address.port === d.port);
    if (r) byName.set(d.name, r);
  });
  return { byName, unreachable };
}

/** Unique config epochs up front, only where the server accepts it (knows no one, epoch 0). */
async function setConfigEpochs(pool: RedisPool, desired: DesiredNode[], byName: Map<string, NodeReport>): Promise<EngineAction[]> {
  const actions: EngineAction[] = [];
  let maxEpoch = 0;
  for (const r of byName.values()) {
    maxEpoch = Math.max(maxEpoch, Number(r.clusterInfo['cluster_current_epoch'] ?? 0));
    for (const n of r.nodes) maxEpoch = Math.max(maxEpoch, n.configEpoch);
  }
  for (const d of desired) {
    const r = byName.get(d.name)!;
    if (knownNodes(r) !== 1 || myself(r).configEpoch !== 0) continue;
    const epoch = ++maxEpoch;
    await pool.call(r.address, 'CLUSTER', 'SET-CONFIG-EPOCH', epoch);
    actions.push({ kind: 'set-config-epoch', message: `${d.name}: config epoch ${epoch}`, nodeId: r.myId });
  }
  return actions;
}

/** Planned slots that no node claims in any view; returns every slot claimed afterwards. */
async function addUnclaimedSlots(
  pool: RedisPool,
  plan: CreatePlan,
  byName: Map<string, NodeReport>,
): Promise<StepOutcome & { claimed: Set<number> }> {
  const out: StepOutcome & { claimed: Set<number> } = { actions: [], problems: [], claimed: new Set<number>() };
  for (const r of byName.values())
    for (const n of r.nodes) if (n.role === 'master') for (const s of rangesToSlots(n.slots)) out.claimed.add(s);
  for (const m of plan.masters) {
    const r = byName.get(m.node)!;
    const missing = rangesToSlots(m.slots).filter((s) => !out.claimed.has(s));
    if (missing.length === 0) continue;
    if (myself(r).role !== 'master') {
      out.problems.push({
        code: 'slots-uncovered',
        message: `${m.node} is planned as a master but is a replica; ${missing.length} slots stay unassigned`,
        nodeId: r.myId,
      });
      continue;
    }
    const ranges = slotsToRanges(missing);
    await pool.call(r.address, 'CLUSTER', 'ADDSLOTSRANGE', ...ranges.flatMap((x) => [x.start, x.end]));
    for (const s of missing) out.claimed.add(s);
    out.actions.push({
      kind: 'add-slots',
      message: `${m.node}: ADDSLOTSRANGE ${ranges.map(formatRange).join(' ')}`,
      nodeId: r.myId,
      slots: ranges,
    });
  }
  return out;
}

/** MEET every node that the seed (the node that knows most) does not know as a connected peer. */
async function meetSeed(pool: RedisPool, desired: DesiredNode[], byName: Map<string, NodeReport>): Promise<EngineAction[]> {
  const actions: EngineAction[] = [];
  const report = (name: string) => byName.get(name)!;
  const seed = [...desired].sort((a, b) => knownNodes(report(b.name)) - knownNodes(report(a.name)))[0]!;
  const seedReport = report(seed.name);
  const seedIp = await ipLiteral(seed.ip);
  for (const d of desired) {
    if (d.name === seed.name) continue;
    const r = report(d.name);
    const inSeed = seedReport.nodes.find((n) => n.id === r.myId);
    const seedInNode = r.nodes.find((n) => n.id === seedReport.myId);
    const healthy = (v: typeof inSeed) => v && !v.flags.includes('handshake') && !v.flags.includes('noaddr') && v.linkState === 'connected';
    if (healthy(inSeed) && healthy(seedInNode) && inSeed!.port === d.port) continue;
    const args: (string | number)[] = ['CLUSTER', 'MEET', seedIp, seed.port];
    if (seed.busPort && seed.busPort !== seed.port + DEFAULT_BUS_OFFSET) args.push(seed.busPort);
    await pool.call(r.address, ...(args as [string, ...(string | number)[]]));
    actions.push({ kind: 'meet', message: `${d.name} meets ${seed.name} at ${seedIp}:${seed.port}`, nodeId: r.myId });
  }
  return actions;
}

/** Waits until everyone knows everyone, no handshakes, links up, one slot map; returns that reading. */
async function waitJoined(pool: RedisPool, desired: DesiredNode[], timeoutMs: number): Promise<Reading> {
  return waitFor('all nodes to join and agree on the slot map', timeoutMs, async () => {
    const reading = await readByName(pool, desired);
    if (reading.unreachable.length) return undefined;
    const ids = [...reading.byName.values()].map((r) => r.myId);
    const sigs = new Set<string>();
    for (const r of reading.byName.values()) {
      for (const id of ids) {
        const v = r.nodes.find((n) => n.id === id);
        if (!v || v.flags.some((f) => f === 'handshake' || f === 'noaddr' || f === 'fail' || f === 'fail?')) return undefined;
        if (!v.flags.includes('myself') && v.linkState !== 'connected') return undefined;
      }
      sigs.add(slotSignature(r));
    }
    return sigs.size === 1 ? reading : undefined;
  });
}

/** Only empty masters become replicas; existing replicas are left alone. Returns who replicates whom. */
async function attachReplicas(
  pool: RedisPool,
  plan: CreatePlan,
  byName: Map<string, NodeReport>,
  timeoutMs: number,
): Promise<StepOutcome & { attached: { name: string; masterId: string }[] }> {
  const out: StepOutcome & { attached: { name: string; masterId: string }[] } = { actions: [], problems: [], attached: [] };
  for (const rp of plan.replicas) {
    const r = byName.get(rp.node)!;
    const masterId = byName.get(rp.masterNode)!.myId;
    const me = myself(r);
    if (me.role === 'replica') {
      if (me.masterId === masterId) out.attached.push({ name: rp.node, masterId });
      else
        out.problems.push({
          code: 'replica-missing',
          message: `${rp.node} already replicates ${me.masterId}; left alone (planned master ${rp.masterNode})`,
          nodeId: r.myId,
        });
      continue;
    }
    if (me.slots.length > 0 || r.keys > 0) {
      out.problems.push({
        code: 'replica-missing',
        message: `${rp.node} is a master with slots or keys; it is not turned into a replica`,
        nodeId: r.myId,
      });
      continue;
    }
    await waitFor(`${rp.node} to replicate ${rp.masterNode}`, timeoutMs, async () => {
      try {
        await pool.call(r.address, 'CLUSTER', 'REPLICATE', masterId);
        return true;
      } catch (err) {
        // The master is not yet known through gossip: try again shortly.
        if (/Unknown node/i.test(errorMessage(err))) return undefined;
        throw err;
      }
    });
    out.attached.push({ name: rp.node, masterId });
    out.actions.push({ kind: 'replicate', message: `${rp.node} replicates ${rp.masterNode}`, nodeId: r.myId });
  }
  return out;
}

/** Replication links up and every node sees the replicas as such. */
async function waitReplicasSynced(
  pool: RedisPool,
  desired: DesiredNode[],
  attached: { name: string; masterId: string }[],
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    'replicas to sync with their masters',
    timeoutMs,
    async () => {
      const { byName, unreachable } = await readByName(pool, desired);
      if (unreachable.length) return undefined;
      for (const a of attached) {
        const r = byName.get(a.name)!;
        if (r.replication['master_link_status'] !== 'up' || r.replication['master_sync_in_progress'] !== '0') return undefined;
        for (const other of byName.values()) {
          const v = other.nodes.find((n) => n.id === r.myId);
          if (!v || v.role !== 'replica' || v.masterId !== a.masterId) return undefined;
        }
      }
      return true;
    },
    100,
  );
}

/**
 * Brings the desired nodes to the planned layout: SET-CONFIG-EPOCH on brand-new nodes,
 * ADDSLOTSRANGE for planned slots nobody owns, MEET for nodes not yet joined, REPLICATE for
 * empty masters planned as replicas, then waits for agreement and replication links.
 * Planned masters with no slots are joined as empty masters (scale-out).
 */
export async function ensureCreated(
  pool: RedisPool,
  desired: DesiredNode[],
  plan: CreatePlan,
  opts: CreateOptions = {},
): Promise<EngineResult> {
  validatePlan(desired, plan);
  const joinTimeoutMs = opts.joinTimeoutMs ?? 30_000;
  const first = await readByName(pool, desired);
  if (first.unreachable.length) {
    const problems: ClusterProblem[] = first.unreachable.map((u) => ({
      code: 'unreachable',
      message: `${u.endpoint.ip}:${u.endpoint.port} is unreachable: ${u.error}`,
    }));
    return { actions: [], problems, done: false };
  }
  const actions = await setConfigEpochs(pool, desired, first.byName);
  const slots = await addUnclaimedSlots(pool, plan, first.byName);
  actions.push(...slots.actions, ...(await meetSeed(pool, desired, first.byName)));
  const joined = await waitJoined(pool, desired, joinTimeoutMs);
  const replicas = await attachReplicas(pool, plan, joined.byName, joinTimeoutMs);
  actions.push(...replicas.actions);
  if (replicas.attached.length) await waitReplicasSynced(pool, desired, replicas.attached, opts.replicationTimeoutMs ?? 60_000);
  // With every slot assigned, done means every node serves: cluster_state:ok everywhere.
  if (slots.claimed.size === 16384) {
    await waitFor('cluster_state:ok on every node', joinTimeoutMs, async () => {
      const { byName, unreachable } = await readByName(pool, desired);
      return !unreachable.length && [...byName.values()].every((r) => r.clusterState === 'ok') ? true : undefined;
    });
  }
  const problems = [...slots.problems, ...replicas.problems];
  return { actions, problems, done: problems.length === 0 };
}
