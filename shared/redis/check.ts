// The cluster health check (what to verify after each step) and the small helpers over CLUSTER NODES
// lines the planner and the tests share. Pure: reports in, problems out; every problem found is
// returned, not just the first, so conditions and logs show the whole picture.
import { endpointKey } from './endpoint.js';
import { compactRanges, formatRange, isUsable } from './topology.js';
import { mergedView } from './view.js';
import {
  SLOT_COUNT,
  type ClusterNodeView,
  type ClusterProblem,
  type DesiredNode,
  type Endpoint,
  type NodeReport,
  type SlotRange,
} from './types.js';

export interface CheckExpectations {
  /** The nodes that should form the cluster; without them, reachability, ghosts and addresses are not checked. */
  nodes?: DesiredNode[];
  /** Number of masters that should own slots. */
  masters?: number;
  /** Replicas each slot-owning master should have. */
  replicasPerMaster?: number;
  /** Failure domain by node id or `ip:port`; enables the anti-affinity check. */
  domains?: Record<string, string>;
  /** Desired nodes that did not answer; their ids are not ghosts (they may come back). */
  unreachable?: Endpoint[];
  /** Slots that may be open because a recorded migration is under way. */
  allowedOpenSlots?: number[];
  /** Largest replication lag in bytes (master offset minus replica offset) still counted as in sync. */
  maxReplicaLag?: number;
}

const FAILING_FLAGS = ['fail', 'fail?', 'noaddr'] as const;

/** The owner of every slot in one view (index = slot); undefined where no master claims it. */
export function slotOwners(view: ClusterNodeView[]): (string | undefined)[] {
  const owners: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
  for (const node of view) {
    if (node.role !== 'master') continue;
    for (const r of node.slots) for (let s = r.start; s <= r.end; s++) owners[s] = node.id;
  }
  return owners;
}

export function mastersOf(view: ClusterNodeView[]): ClusterNodeView[] {
  return view.filter((n) => n.role === 'master');
}

export function replicasOf(view: ClusterNodeView[], masterId: string): ClusterNodeView[] {
  return view.filter((n) => n.role === 'replica' && n.masterId === masterId);
}

/** Slot ranges per master (empty masters included): the input of the reshard planner. */
export function ownersFromView(view: ClusterNodeView[]): Map<string, SlotRange[]> {
  const owners = new Map<string, SlotRange[]>();
  for (const m of mastersOf(view)) owners.set(m.id, compactRanges(m.slots));
  return owners;
}

/**
 * redis-cli's consistency signature: every node line that has slots, as `id:` plus its sorted plain
 * ranges, lines sorted and joined. Equal signatures mean equal slot ownership.
 */
export function configSignature(view: ClusterNodeView[]): string {
  return view
    .filter((n) => n.slots.length > 0)
    .map((n) => `${n.id}:${compactRanges(n.slots).map(formatRange).join(',')}`)
    .sort()
    .join('|');
}

function sameRanges(a: SlotRange[], b: SlotRange[]): boolean {
  if (a.length === b.length && a.every((r, i) => r.start === b[i]!.start && r.end === b[i]!.end)) return true;
  const key = (ranges: SlotRange[]) => compactRanges(ranges).map(formatRange).join(',');
  return key(a) === key(b);
}

/**
 * Where the reports' views differ from the first report's: one sentence per aspect (the set of ids;
 * roles, masters or addresses; slot ownership) naming the nodes that see it differently. A node
 * whose set of ids differs is named for that only. Empty when they all agree.
 */
export function viewDifferences(reports: NodeReport[]): string[] {
  const first = reports[0];
  if (!first) return [];
  const reference = new Map(first.nodes.map((n) => [n.id, n]));
  const differing: Record<'ids' | 'membership' | 'slots', string[]> = { ids: [], membership: [], slots: [] };
  for (const r of reports.slice(1)) {
    if (r.nodes.length !== reference.size || r.nodes.some((n) => !reference.has(n.id))) {
      differing.ids.push(r.myId);
      continue;
    }
    let membership = false;
    let slots = false;
    for (const n of r.nodes) {
      const o = reference.get(n.id)!;
      if (n.role !== o.role || n.masterId !== o.masterId || n.ip !== o.ip || n.port !== o.port || n.busPort !== o.busPort) {
        membership = true;
      }
      if (!sameRanges(n.slots, o.slots)) slots = true;
    }
    if (membership) differing.membership.push(r.myId);
    if (slots) differing.slots.push(r.myId);
  }
  const aspects: [keyof typeof differing, string][] = [
    ['ids', 'the set of node ids'],
    ['membership', 'roles, masters or addresses'],
    ['slots', 'slot ownership'],
  ];
  return aspects
    .filter(([key]) => differing[key].length > 0)
    .map(([key, aspect]) => `${differing[key].join(', ')} see ${aspect} differently from ${first.myId}`);
}

export function viewsAgree(reports: NodeReport[]): boolean {
  return viewDifferences(reports).length === 0;
}

function rangesText(slots: number[]): string {
  return compactRanges(slots.map((s) => ({ start: s, end: s })))
    .map(formatRange)
    .join(',');
}

/** What every check reads: the reports, the expectations and lookups built once. */
interface CheckInput {
  reports: NodeReport[];
  expect: CheckExpectations;
  desiredByAddr: Map<string, DesiredNode>;
  reportByAddr: Map<string, NodeReport>;
  /** Desired nodes (and those the caller names) that did not answer, by address. */
  unreachable: Map<string, Endpoint>;
  /** One line per node, as the merged view speaks for it. */
  lines: ClusterNodeView[];
}

function reachabilityProblems(c: CheckInput): ClusterProblem[] {
  // The id the others still list at an address, so callers can tell which node went silent.
  const idAt = new Map<string, string>();
  if (c.unreachable.size > 0) {
    for (const r of c.reports) for (const n of r.nodes) if (!idAt.has(endpointKey(n))) idAt.set(endpointKey(n), n.id);
  }
  return [...c.unreachable.keys()].map((key) => {
    const name = c.desiredByAddr.get(key)?.name;
    const known = idAt.get(key);
    return {
      code: 'unreachable',
      ...(known ? { nodeId: known } : {}),
      message: `node ${name ? `${name} (${key})` : key}${known ? ` ${known}` : ''} did not answer`,
    };
  });
}

function stateProblems(c: CheckInput): ClusterProblem[] {
  return c.reports
    .filter((r) => r.clusterState !== 'ok')
    .map((r) => ({ code: 'state-not-ok', nodeId: r.myId, message: `${r.myId} reports cluster_state:${r.clusterState}` }));
}

/** Coverage and overlap, from each master's own claim (a master that did not answer: as others see it). */
function coverageProblems(c: CheckInput): ClusterProblem[] {
  const problems: ClusterProblem[] = [];
  const claims: string[][] = Array.from({ length: SLOT_COUNT }, () => []);
  for (const m of mastersOf(c.lines)) {
    for (const r of m.slots) for (let s = r.start; s <= r.end && s < SLOT_COUNT; s++) claims[s]!.push(m.id);
  }
  const uncovered: number[] = [];
  const overlaps = new Map<string, number[]>();
  claims.forEach((owners, slot) => {
    if (owners.length === 0) uncovered.push(slot);
    else if (owners.length > 1) {
      const key = [...owners].sort().join(' and ');
      const list = overlaps.get(key);
      if (list) list.push(slot);
      else overlaps.set(key, [slot]);
    }
  });
  if (uncovered.length > 0) {
    problems.push({
      code: 'slots-uncovered',
      slot: uncovered[0],
      message: `${uncovered.length} slots have no master: ${rangesText(uncovered)}`,
    });
  }
  for (const [owners, slots] of overlaps) {
    problems.push({ code: 'slots-overlap', slot: slots[0], message: `slots ${rangesText(slots)} are claimed by ${owners}` });
  }
  return problems;
}

/** Open slots, as each node says of itself. */
function openSlotProblems(c: CheckInput): ClusterProblem[] {
  const allowed = new Set(c.expect.allowedOpenSlots ?? []);
  const problems: ClusterProblem[] = [];
  for (const r of c.reports) {
    const self = r.nodes.find((n) => n.id === r.myId);
    for (const o of self?.openSlots ?? []) {
      if (allowed.has(o.slot)) continue;
      const dir = o.state === 'migrating' ? `migrating to ${o.peerId}` : `importing from ${o.peerId}`;
      problems.push({ code: 'open-slot', nodeId: r.myId, slot: o.slot, message: `slot ${o.slot} is open on ${r.myId}: ${dir}` });
    }
  }
  return problems;
}

/** Config epochs unique among masters (a fresh empty master at epoch 0 has nothing to collide over). */
function epochProblems(c: CheckInput): ClusterProblem[] {
  const byEpoch = new Map<number, string[]>();
  for (const m of mastersOf(c.lines)) {
    if (m.configEpoch === 0 && m.slots.length === 0) continue;
    byEpoch.set(m.configEpoch, [...(byEpoch.get(m.configEpoch) ?? []), m.id]);
  }
  return [...byEpoch]
    .filter(([, ids]) => ids.length > 1)
    .map(([epoch, ids]) => ({ code: 'epoch-collision', nodeId: ids[0], message: `masters ${ids.join(', ')} share config epoch ${epoch}` }));
}

/** Failing flags and broken links, one problem per node with every observer that sees it. */
function failingProblems(c: CheckInput): ClusterProblem[] {
  const failing = new Map<string, { flags: Set<string>; observers: Set<string> }>();
  const handshakes = new Map<string, Set<string>>();
  for (const r of c.reports) {
    for (const n of r.nodes) {
      // Most lines are healthy: only flagged or disconnected ones are looked at closely.
      if (n.linkState === 'connected' && n.flags.every((f) => f === 'myself' || f === 'master' || f === 'slave')) continue;
      const bad: string[] = n.flags.filter((f) => (FAILING_FLAGS as readonly string[]).includes(f));
      if (n.id !== r.myId && n.linkState === 'disconnected') bad.push('link disconnected');
      if (bad.length > 0) {
        const entry = failing.get(n.id) ?? { flags: new Set<string>(), observers: new Set<string>() };
        for (const f of bad) entry.flags.add(f);
        entry.observers.add(r.myId);
        failing.set(n.id, entry);
      }
      if (n.flags.includes('handshake')) handshakes.set(n.id, (handshakes.get(n.id) ?? new Set()).add(r.myId));
    }
  }
  const problems: ClusterProblem[] = [];
  for (const [id, { flags, observers }] of failing) {
    problems.push({
      code: 'node-failing',
      nodeId: id,
      message: `${id} is ${[...flags].join(', ')} as seen by ${[...observers].join(', ')}`,
    });
  }
  for (const [id, observers] of handshakes) {
    problems.push({ code: 'handshake', nodeId: id, message: `${id} is still in handshake on ${[...observers].join(', ')}` });
  }
  return problems;
}

/**
 * Ghosts: ids the cluster knows that are neither a reachable desired node nor a desired node that is
 * merely down (its old line still points at an address no one answered from). Without desired
 * nodes a silent node may just be down, so nothing is called a ghost.
 */
function ghostProblems(c: CheckInput): ClusterProblem[] {
  if (!c.expect.nodes) return [];
  const member = new Set<string>();
  for (const r of c.reports) if (c.desiredByAddr.has(endpointKey(r.address))) member.add(r.myId);
  return c.lines
    .filter((n) => !member.has(n.id) && !(c.unreachable.has(endpointKey(n)) && !c.reportByAddr.has(endpointKey(n))))
    .map((n) => ({
      code: 'ghost-node',
      nodeId: n.id,
      message: `${n.id} (${n.ip}:${n.port}, ${n.role}) is known to the cluster but is not a desired node`,
    }));
}

/** Addresses: every observer must list each desired node at the desired ip, port and bus port. */
function addressProblems(c: CheckInput): ClusterProblem[] {
  if (!c.expect.nodes) return [];
  const wantById = new Map<string, DesiredNode>();
  for (const r of c.reports) {
    const want = c.desiredByAddr.get(endpointKey(r.address));
    if (want) wantById.set(r.myId, want);
  }
  const wrong = new Map<string, string[]>();
  for (const observer of c.reports) {
    for (const line of observer.nodes) {
      const want = wantById.get(line.id);
      if (!want || (line.ip === want.ip && line.port === want.port && line.busPort === want.busPort)) continue;
      const seen = `${observer.myId} sees ${line.ip}:${line.port}@${line.busPort}`;
      const list = wrong.get(line.id);
      if (list) list.push(seen);
      else wrong.set(line.id, [seen]);
    }
  }
  return [...wrong].map(([id, seen]) => {
    const want = wantById.get(id)!;
    return {
      code: 'address-mismatch',
      nodeId: id,
      message: `${want.name} (${id}) should be at ${want.ip}:${want.port}@${want.busPort}; ${seen.join('; ')}`,
    };
  });
}

/** Shape: masters owning slots and their replicas. */
function shapeProblems(c: CheckInput): ClusterProblem[] {
  const problems: ClusterProblem[] = [];
  const owningMasters = mastersOf(c.lines).filter((m) => m.slots.length > 0);
  if (c.expect.masters !== undefined && owningMasters.length !== c.expect.masters) {
    problems.push({ code: 'masters-mismatch', message: `${owningMasters.length} masters own slots, expected ${c.expect.masters}` });
  }
  const wanted = c.expect.replicasPerMaster;
  if (wanted === undefined) return problems;
  for (const m of owningMasters) {
    const healthy = replicasOf(c.lines, m.id).filter(isUsable);
    if (healthy.length < wanted) {
      problems.push({
        code: 'replica-missing',
        nodeId: m.id,
        message: `master ${m.id} has ${healthy.length} healthy replicas, expected ${wanted}`,
      });
    } else if (healthy.length > wanted) {
      problems.push({ code: 'replica-excess', nodeId: m.id, message: `master ${m.id} has ${healthy.length} replicas, expected ${wanted}` });
    }
  }
  return problems;
}

/** Replication sync, from each replica's own INFO. */
function syncProblems(c: CheckInput): ClusterProblem[] {
  const problems: ClusterProblem[] = [];
  for (const r of c.reports) {
    const role = r.replication.role;
    if (role !== 'slave' && role !== 'replica') continue;
    const link = r.replication.master_link_status;
    const syncing = r.replication.master_sync_in_progress;
    if (link !== 'up' || syncing !== '0') {
      problems.push({
        code: 'replica-not-synced',
        nodeId: r.myId,
        message: `replica ${r.myId}: master_link_status:${link ?? '?'}, master_sync_in_progress:${syncing ?? '?'}`,
      });
      continue;
    }
    if (c.expect.maxReplicaLag === undefined) continue;
    // Lag in bytes: the master's replication offset minus what the replica has processed.
    const masterId = r.nodes.find((n) => n.id === r.myId)?.masterId;
    const master = c.reports.find((m) => m.myId === masterId);
    const masterOffset = Number(master?.replication.master_repl_offset);
    const replicaOffset = Number(r.replication.slave_repl_offset ?? r.replication.master_repl_offset);
    if (Number.isFinite(masterOffset) && Number.isFinite(replicaOffset) && masterOffset - replicaOffset > c.expect.maxReplicaLag) {
      problems.push({
        code: 'replica-not-synced',
        nodeId: r.myId,
        message: `replica ${r.myId} lags its master ${masterId} by ${masterOffset - replicaOffset} bytes (at most ${c.expect.maxReplicaLag})`,
      });
    }
  }
  return problems;
}

/** Anti-affinity: no replica in its master's failure domain. */
function antiAffinityProblems(c: CheckInput): ClusterProblem[] {
  const domains = c.expect.domains;
  if (!domains) return [];
  const byId = new Map(c.lines.map((n) => [n.id, n]));
  const domainOf = (n: ClusterNodeView): string | undefined =>
    domains[n.id] ?? domains[endpointKey(n)] ?? c.desiredByAddr.get(endpointKey(n))?.domain;
  const problems: ClusterProblem[] = [];
  for (const replica of c.lines) {
    if (replica.role !== 'replica' || !replica.masterId) continue;
    const master = byId.get(replica.masterId);
    if (!master) continue;
    const domain = domainOf(replica);
    if (domain !== undefined && domain === domainOf(master)) {
      problems.push({
        code: 'anti-affinity',
        nodeId: replica.id,
        message: `replica ${replica.id} shares failure domain ${domain} with its master ${master.id}`,
      });
    }
  }
  return problems;
}

/** Runs every check of the health verification and returns all problems found. */
export function checkCluster(reports: NodeReport[], expect: CheckExpectations = {}): ClusterProblem[] {
  const desiredByAddr = new Map((expect.nodes ?? []).map((d) => [endpointKey(d), d]));
  const reportByAddr = new Map(reports.map((r) => [endpointKey(r.address), r]));
  const unreachable = new Map<string, Endpoint>();
  for (const e of expect.unreachable ?? []) unreachable.set(endpointKey(e), e);
  for (const d of expect.nodes ?? []) if (!reportByAddr.has(endpointKey(d))) unreachable.set(endpointKey(d), d);
  const c: CheckInput = { reports, expect, desiredByAddr, reportByAddr, unreachable, lines: [] };
  const problems = reachabilityProblems(c);
  if (reports.length === 0) return problems;
  c.lines = mergedView(reports);
  problems.push(...stateProblems(c));
  for (const d of viewDifferences(reports)) problems.push({ code: 'views-disagree', message: d });
  for (const check of [
    coverageProblems,
    openSlotProblems,
    epochProblems,
    failingProblems,
    ghostProblems,
    addressProblems,
    shapeProblems,
    syncProblems,
    antiAffinityProblems,
  ]) {
    problems.push(...check(c));
  }
  return problems;
}
