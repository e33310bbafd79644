// Initial layout of a new cluster: slot split, masters spread over failure domains, replicas kept
// out of their master's domain. Pure and deterministic.
import { SLOT_COUNT, type CreatePlan, type DesiredNode, type SlotRange } from '../types.js';
import { byName } from './common.js';

/**
 * redis-cli's floating-cursor split of the 16384 slots into `masters` contiguous ranges
 * (3 masters: 0-5460, 5461-10922, 10923-16383).
 */
export function splitSlots(masters: number): SlotRange[] {
  if (!Number.isInteger(masters) || masters < 1 || masters > SLOT_COUNT) {
    throw new Error(`masters must be an integer from 1 to ${SLOT_COUNT}, got ${masters}`);
  }
  // redis-cli computes in single-precision floats; from 78 masters on that shifts some boundaries, so
  // the same arithmetic is kept here to give the very layout `redis-cli --cluster create` would.
  const f = Math.fround;
  const per = f(SLOT_COUNT / masters);
  const out: SlotRange[] = [];
  let first = 0;
  let cursor = f(0);
  for (let i = 0; i < masters; i++) {
    let last = Math.round(f(f(cursor + per) - 1));
    if (last > SLOT_COUNT - 1 || i === masters - 1) last = SLOT_COUNT - 1;
    if (last < first) last = first;
    out.push({ start: first, end: last });
    first = last + 1;
    cursor = f(cursor + per);
  }
  return out;
}

/** A shard during layout: index 0 is the master, the rest its replicas. */
type Layout = DesiredNode[][];

// Weights: a replica in its master's domain outweighs any spread of masters (pairs of masters sharing a
// domain, at most ~5e5 for 1000 nodes), which comes before replicas of one master sharing a domain
// (redis-cli's anti-affinity score, by domain instead of ip).
const SAME_AS_MASTER = 1e9;
const MASTERS_TOGETHER = 1000;
const SIBLINGS_TOGETHER = 1;

function pairs(counts: Iterable<number>): number {
  let n = 0;
  for (const c of counts) n += (c * (c - 1)) / 2;
  return n;
}

function domainCounts(nodes: DesiredNode[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of nodes) m.set(n.domain, (m.get(n.domain) ?? 0) + 1);
  return m;
}

/** The anti-affinity score of a layout; 0 is perfect. */
export function antiAffinityScore(layout: Layout): number {
  let score = MASTERS_TOGETHER * pairs(domainCounts(layout.map((shard) => shard[0]!)).values());
  for (const [master, ...replicas] of layout) {
    score += SAME_AS_MASTER * replicas.filter((r) => r.domain === master!.domain).length;
    score += SIBLINGS_TOGETHER * pairs(domainCounts(replicas).values());
  }
  return score;
}

/** The score of one shard without the masters term: replicas with their master, replicas together. */
function shardScore(shard: DesiredNode[]): number {
  const master = shard[0]!;
  const seen = new Map<string, number>();
  let score = 0;
  for (let k = 1; k < shard.length; k++) {
    const d = shard[k]!.domain;
    if (d === master.domain) score += SAME_AS_MASTER;
    const before = seen.get(d) ?? 0;
    score += SIBLINGS_TOGETHER * before;
    seen.set(d, before + 1);
  }
  return score;
}

/**
 * Swaps any two nodes (a swap inside one shard changes its master) while the score strictly drops:
 * deterministic, and it ends because the score is a non-negative integer. Each candidate swap is
 * scored from the two shards it touches, so a thousand nodes stay fast.
 */
function improveLayout(layout: Layout): void {
  const shardScores = layout.map(shardScore);
  const mastersIn = domainCounts(layout.map((shard) => shard[0]!));
  let score = antiAffinityScore(layout);
  const positions: [number, number][] = [];
  layout.forEach((shard, s) => shard.forEach((_, k) => positions.push([s, k])));
  let improved = true;
  while (improved && score > 0) {
    improved = false;
    for (let i = 0; i < positions.length; i++) {
      for (let j = i + 1; j < positions.length; j++) {
        const [si, ki] = positions[i]!;
        const [sj, kj] = positions[j]!;
        const a = layout[si]![ki]!;
        const b = layout[sj]![kj]!;
        if (a.domain === b.domain) continue;
        // A master's domain changes only when exactly one side of a swap between shards is a master,
        // or when a master trades places with its own replica.
        let from: string | undefined;
        let to: string | undefined;
        if (si === sj) {
          if (ki === 0) [from, to] = [a.domain, b.domain];
        } else if (ki === 0 && kj !== 0) [from, to] = [a.domain, b.domain];
        else if (kj === 0 && ki !== 0) [from, to] = [b.domain, a.domain];
        const mastersDelta = from === undefined ? 0 : MASTERS_TOGETHER * ((mastersIn.get(to!) ?? 0) - ((mastersIn.get(from) ?? 0) - 1));
        const before = shardScores[si]! + (si === sj ? 0 : shardScores[sj]!);
        layout[si]![ki] = b;
        layout[sj]![kj] = a;
        const newI = shardScore(layout[si]!);
        const newJ = si === sj ? newI : shardScore(layout[sj]!);
        const delta = newI + (si === sj ? 0 : newJ) - before + mastersDelta;
        if (delta < 0) {
          shardScores[si] = newI;
          shardScores[sj] = newJ;
          if (from !== undefined) {
            mastersIn.set(from, mastersIn.get(from)! - 1);
            mastersIn.set(to!, (mastersIn.get(to!) ?? 0) + 1);
          }
          score += delta;
          improved = true;
        } else {
          layout[si]![ki] = a;
          layout[sj]![kj] = b;
        }
      }
    }
  }
}

/**
 * The initial layout of a new cluster: `masters` masters (spread across domains) with
 * `replicasPerMaster` replicas each, none in its master's domain when the domains allow it.
 */
export function planCreate(nodes: DesiredNode[], masters: number, replicasPerMaster: number): CreatePlan {
  if (!Number.isInteger(masters) || masters < 1) throw new Error(`masters must be a positive integer, got ${masters}`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a non-negative integer, got ${replicasPerMaster}`);
  }
  const needed = masters * (1 + replicasPerMaster);
  if (nodes.length !== needed) {
    throw new Error(`nodes: ${masters} masters with ${replicasPerMaster} replicas each need ${needed} nodes, got ${nodes.length}`);
  }
  const names = new Set<string>();
  for (const n of nodes) {
    if (!n.name) throw new Error('nodes: every node needs a name');
    if (names.has(n.name)) throw new Error(`nodes: duplicate name ${n.name}`);
    names.add(n.name);
  }

  // Interleave by domain (redis-cli interleaves by ip): first of each domain, then second, ...
  const sorted = [...nodes].sort((a, b) => byName(a.name, b.name));
  const groups = new Map<string, DesiredNode[]>();
  for (const n of sorted) groups.set(n.domain, [...(groups.get(n.domain) ?? []), n]);
  const interleaved: DesiredNode[] = [];
  for (let round = 0; interleaved.length < sorted.length; round++) {
    for (const g of groups.values()) if (g[round]) interleaved.push(g[round]!);
  }

  // Greedy start: each master takes, round by round, the first free node outside its own domain and
  // its replicas' domains, else outside its own domain, else the first free node.
  const layout: Layout = interleaved.slice(0, masters).map((m) => [m]);
  const free = interleaved.slice(masters);
  for (let round = 0; round < replicasPerMaster; round++) {
    for (const shard of layout) {
      const taken = new Set(shard.map((n) => n.domain));
      let i = free.findIndex((n) => !taken.has(n.domain));
      if (i < 0) i = free.findIndex((n) => n.domain !== shard[0]!.domain);
      if (i < 0) i = 0;
      shard.push(free.splice(i, 1)[0]!);
    }
  }

  improveLayout(layout);

  const ranges = splitSlots(masters);
  return {
    masters: layout.map((shard, i) => ({ node: shard[0]!.name, slots: [ranges[i]!] })),
    replicas: layout.flatMap((shard) => shard.slice(1).map((r) => ({ node: r.name, masterNode: shard[0]!.name }))),
  };
}
