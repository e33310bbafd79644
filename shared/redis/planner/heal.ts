// Healing decisions: which MEETs fix moved addresses, which shards are lost, who re-covers their
// slots, which ids are ghosts to FORGET. Pure: the cluster view in, the steps out.
import { endpointKey } from '../endpoint.js';
import { compactRanges, countSlots, formatRange, slotsToRanges } from '../topology.js';
import { SLOT_COUNT, type ClusterProblem, type DesiredNode, type Endpoint, type NodeReport, type SlotRange } from '../types.js';
import { isFreshNode, isGone, mastersWithSlots, replicasOfNode, type ClusterView } from '../view.js';

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
  return [...assigned]
    .map(([masterId, ranges]) => ({ masterId, ranges: compactRanges(ranges) }))
    .sort((a, b) => a.masterId.localeCompare(b.masterId));
}

/**
 * Ids to FORGET: known to the cluster, not a reachable desired node, flagged fail or noaddr by its
 * peers, owning no slot in anyone's view, not at the address of a desired node that is only down
 * (it may come back), not in handshake, and not protected (members of a lost shard kept for a human).
 */
export function findGhosts(view: ClusterView, opts: { unreachable: Endpoint[]; protect: Set<string> }): string[] {
  const down = new Set(opts.unreachable.map(endpointKey));
  const ghosts: string[] = [];
  for (const n of view.nodes.values()) {
    if (n.report || opts.protect.has(n.id)) continue;
    if (n.handshakeBy > 0 || (n.failBy === 0 && n.noaddrBy === 0)) continue;
    if (n.slots.length > 0) continue;
    if (view.reports.some((r) => r.nodes.some((v) => v.id === n.id && v.slots.length > 0))) continue;
    const seenAt = new Set(view.reports.flatMap((r) => r.nodes.filter((v) => v.id === n.id).map((v) => `${v.ip}:${v.port}`)));
    if ([...seenAt].some((a) => down.has(a))) continue;
    ghosts.push(n.id);
  }
  return ghosts.sort();
}

/** The problem reported for lost shards when their slots may not be re-covered empty. */
export function lostShardsProblem(lost: LostShard[]): ClusterProblem {
  const total = lost.reduce((n, l) => n + countSlots(l.slots), 0);
  const ranges = compactRanges(lost.flatMap((l) => l.slots))
    .map(formatRange)
    .join(',');
  return {
    code: 'slots-uncovered',
    dataLost: true,
    slot: lost[0]!.slots[0]?.start,
    message: `${total} slots (${ranges}) have no live master or replica; their data is lost unless the nodes come back. Re-covering them empty needs allowDataLoss`,
  };
}
