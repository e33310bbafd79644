import { describe, expect, it } from 'vitest';
import { type Owners } from '../../shared/redis/planner/common.js';
import { antiAffinityScore, planCreate, splitSlots } from '../../shared/redis/planner/create.js';
import { planReplicas } from '../../shared/redis/planner/replicas.js';
import {
  applyMoves,
  arrangeWaves,
  chooseMastersToRemove,
  minimalMoveCount,
  planChunk,
  planRebalance,
  planScaleIn,
  planScaleOut,
  rebalanceTargets,
  remainingMoves,
} from '../../shared/redis/planner/reshard.js';
import { countSlots, parseClusterNodes } from '../../shared/redis/topology.js';
import { SLOT_COUNT, type CreatePlan, type DesiredNode, type ReshardPlan } from '../../shared/redis/types.js';

// Seeded PRNG (mulberry32) so every run explores the same shapes and a failure is reproducible.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const mid = (i: number) => `m${String(i).padStart(2, '0')}`;

/** n masters owning the 16384 slots in random, uneven, fragmented pieces; every master owns some. */
function randomOwners(r: () => number, n: number): Owners {
  const pieces = int(r, n, 3 * n);
  const cuts = new Set<number>();
  while (cuts.size < pieces - 1) cuts.add(int(r, 1, SLOT_COUNT - 1));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), SLOT_COUNT];
  const ownerOfPiece = Array.from({ length: pieces }, (_, i) => (i < n ? i : int(r, 0, n - 1)));
  for (let i = ownerOfPiece.length - 1; i > 0; i--) {
    const j = int(r, 0, i);
    [ownerOfPiece[i], ownerOfPiece[j]] = [ownerOfPiece[j]!, ownerOfPiece[i]!];
  }
  const owners: Owners = new Map(Array.from({ length: n }, (_, i) => [mid(i), []]));
  for (let p = 0; p < pieces; p++) owners.get(mid(ownerOfPiece[p]!))!.push({ start: bounds[p]!, end: bounds[p + 1]! - 1 });
  return owners;
}

function balancedOwners(n: number): Owners {
  return new Map(splitSlots(n).map((range, i) => [mid(i), [range]]));
}

const counts = (owners: Owners) => new Map([...owners].map(([id, ranges]) => [id, countSlots(ranges)]));
const moved = (plan: ReshardPlan) => plan.moves.reduce((n, m) => n + countSlots(m.slots), 0);

/** Independent lower bound: excess over the floor, minus one per ceil handed to an over-floor master. */
function minimumMoves(before: Map<string, number>, survivors: string[]): number {
  const q = Math.floor(SLOT_COUNT / survivors.length);
  const ceils = SLOT_COUNT - q * survivors.length;
  let excess = 0;
  let overFloor = 0;
  for (const [id, n] of before) {
    if (!survivors.includes(id)) excess += n;
    else {
      excess += Math.max(0, n - q);
      if (n > q) overFloor++;
    }
  }
  return excess - Math.min(ceils, overFloor);
}

/** Asserts every property a reshard plan must have; returns the ownership after it. */
function assertPlan(before: Owners, plan: ReshardPlan, survivors: string[]): Owners {
  const after = applyMoves(before, plan.moves);
  // Every slot exactly once.
  const seen = new Array<number>(SLOT_COUNT).fill(0);
  for (const ranges of after.values()) for (const r of ranges) for (let s = r.start; s <= r.end; s++) seen[s]!++;
  expect(seen.every((c) => c === 1)).toBe(true);
  // Balanced within one slot; the drained hold nothing.
  const q = Math.floor(SLOT_COUNT / survivors.length);
  const c0 = counts(before);
  const c1 = counts(after);
  for (const id of survivors) expect([q, q + 1]).toContain(c1.get(id));
  for (const id of c1.keys()) if (!survivors.includes(id)) expect(c1.get(id)).toBe(0);
  // No more slots than the minimum.
  expect(moved(plan)).toBe(minimumMoves(c0, survivors));
  // Only over-full masters give, only under-full ones receive, and no node does both.
  const sources = new Set(plan.moves.map((m) => m.sourceId));
  const targets = new Set(plan.moves.map((m) => m.targetId));
  for (const id of sources) {
    expect(c0.get(id)!).toBeGreaterThan(c1.get(id)!);
    expect(targets.has(id)).toBe(false);
  }
  for (const id of targets) expect(c0.get(id) ?? 0).toBeLessThan(c1.get(id)!);
  // One move per (source, target) pair.
  const pairs = plan.moves.map((m) => `${m.sourceId}>${m.targetId}`);
  expect(new Set(pairs).size).toBe(pairs.length);
  // Waves: disjoint, together exactly the moves, as few as the busiest node allows.
  const degree = new Map<string, number>();
  for (const m of plan.moves) for (const id of [m.sourceId, m.targetId]) degree.set(id, (degree.get(id) ?? 0) + 1);
  expect(plan.waves.length).toBe(Math.max(0, ...degree.values()));
  for (const wave of plan.waves) {
    const nodes = wave.flatMap((m) => [m.sourceId, m.targetId]);
    expect(new Set(nodes).size).toBe(nodes.length);
  }
  expect(plan.waves.flat()).toEqual(plan.moves);
  return after;
}

describe('splitSlots', () => {
  it('splits like redis-cli create', () => {
    expect(splitSlots(3)).toEqual([
      { start: 0, end: 5460 },
      { start: 5461, end: 10922 },
      { start: 10923, end: 16383 },
    ]);
    for (let n = 1; n <= 300; n++) {
      const ranges = splitSlots(n);
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(SLOT_COUNT - 1);
      for (let i = 1; i < n; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end + 1);
      const sizes = ranges.map((r) => r.end - r.start + 1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(() => splitSlots(0)).toThrow(/masters/);
  });
});

describe('planScaleOut (property)', () => {
  it('balances any uneven cluster with the fewest moves, in disjoint waves', () => {
    const r = rng(1);
    for (let run = 0; run < 150; run++) {
      const n = int(r, 3, 12);
      const add = int(r, 1, 6);
      const before = randomOwners(r, n);
      const fresh = Array.from({ length: add }, (_, i) => mid(n + i));
      const plan = planScaleOut(before, fresh);
      const withNew = new Map(before);
      for (const id of fresh) withNew.set(id, []);
      assertPlan(withNew, plan, [...withNew.keys()]);
      for (const id of fresh) expect(plan.moves.some((m) => m.targetId === id)).toBe(true);
      expect(plan.drained).toEqual([]);
    }
  });

  it('keeps what each old master keeps in one range when it started with one', () => {
    const before = balancedOwners(3);
    const plan = planScaleOut(before, ['m03']);
    const after = assertPlan(new Map([...before, ['m03', []]]), plan, ['m00', 'm01', 'm02', 'm03']);
    for (const id of ['m00', 'm01', 'm02']) expect(after.get(id)).toHaveLength(1);
    // Three givers, one receiver: three moves that must run one after another at the receiver.
    expect(plan.moves).toHaveLength(3);
    expect(plan.waves).toHaveLength(3);
  });

  it('runs disjoint pairs in parallel when doubling', () => {
    const plan = planScaleOut(balancedOwners(4), ['m04', 'm05', 'm06', 'm07']);
    expect(plan.moves).toHaveLength(4);
    expect(plan.waves).toHaveLength(1);
    expect(moved(plan)).toBe(SLOT_COUNT / 2);
  });
});

describe('planScaleIn (property)', () => {
  it('drains the removed masters over the survivors, balanced, with the fewest moves', () => {
    const r = rng(2);
    for (let run = 0; run < 150; run++) {
      const n = int(r, 4, 12);
      const k = int(r, 1, n - 3);
      const before = randomOwners(r, n);
      const plan = planScaleIn(before, k);
      expect(plan.drained).toHaveLength(k);
      const survivors = [...before.keys()].filter((id) => !plan.drained.includes(id));
      assertPlan(before, plan, survivors);
      // The cheapest masters were chosen: no survivor holds fewer slots than a drained one.
      const c = counts(before);
      const maxDrained = Math.max(...plan.drained.map((id) => c.get(id)!));
      for (const id of survivors) expect(c.get(id)!).toBeGreaterThanOrEqual(maxDrained);
    }
  });

  it('spreads drained slots over every survivor of a balanced cluster, never onto one', () => {
    const r = rng(3);
    for (let run = 0; run < 60; run++) {
      const n = int(r, 4, 12);
      const k = int(r, 1, n - 3);
      const before = balancedOwners(n);
      const victims = [...before.keys()].sort(() => r() - 0.5).slice(0, k);
      const plan = planScaleIn(before, victims);
      expect(plan.drained).toEqual([...victims].sort());
      const survivors = [...before.keys()].filter((id) => !victims.includes(id));
      assertPlan(before, plan, survivors);
      const receivers = new Set(plan.moves.map((m) => m.targetId));
      for (const id of survivors) expect(receivers.has(id)).toBe(true);
    }
  });

  it('hands a drained range to its neighbours so their ranges stay contiguous', () => {
    const before = balancedOwners(4);
    const plan = planScaleIn(before, ['m01']);
    const after = assertPlan(before, plan, ['m00', 'm02', 'm03']);
    expect(after.get('m00')).toHaveLength(1);
    expect(after.get('m02')).toHaveLength(1);
    expect(after.get('m03')).toHaveLength(2);
  });

  it('weighs the choice by keys when given', () => {
    const before = balancedOwners(5);
    expect(chooseMastersToRemove(before, 2, { m00: 900, m01: 10, m02: 500, m03: 20, m04: 700 })).toEqual(['m01', 'm03']);
    expect(() => planScaleIn(before, 5)).toThrow(/count/);
    expect(() => planScaleIn(before, ['nope'])).toThrow(/remove: nope/);
  });
});

describe('planRebalance', () => {
  it('gives the ceil to the masters that already hold more', () => {
    // 16384 over 3: two get 5461, one 5462. m02 holds the most, so it keeps the ceil and nothing moves.
    const owners: Owners = new Map([
      ['m00', [{ start: 0, end: 5460 }]],
      ['m01', [{ start: 5461, end: 10921 }]],
      ['m02', [{ start: 10922, end: 16383 }]],
    ]);
    expect(rebalanceTargets(owners).get('m02')).toBe(5462);
    expect(planRebalance(owners).moves).toEqual([]);
  });

  it('follows weights, and weight 0 drains', () => {
    const owners = balancedOwners(3);
    const targets = rebalanceTargets(owners, { m00: 2, m01: 1, m02: 1 });
    expect(targets.get('m00')).toBe(8192);
    const plan = planRebalance(owners, { m00: 2, m01: 1, m02: 1 });
    expect(moved(plan)).toBe(minimalMoveCount(owners, targets));
    expect(counts(applyMoves(owners, plan.moves)).get('m00')).toBe(8192);
    expect(planRebalance(owners, { m02: 0 }).drained).toEqual(['m02']);
    expect(() => planRebalance(owners, { m00: -1 })).toThrow(/weights: m00/);
    expect(() => planRebalance(owners, { zz: 1 })).toThrow(/weights: zz/);
  });

  it('meets random weights within one slot of each share, moving only the excess', () => {
    const r = rng(6);
    for (let run = 0; run < 60; run++) {
      const n = int(r, 3, 10);
      const before = randomOwners(r, n);
      const weights = new Map([...before.keys()].map((id) => [id, r() < 0.15 ? 0 : r() * 5]));
      if ([...weights.values()].every((w) => w === 0)) weights.set(mid(0), 1);
      const sum = [...weights.values()].reduce((a, b) => a + b, 0);
      const targets = rebalanceTargets(before, weights);
      expect([...targets.values()].reduce((a, b) => a + b, 0)).toBe(SLOT_COUNT);
      const plan = planRebalance(before, weights);
      const after = counts(applyMoves(before, plan.moves));
      for (const [id, w] of weights) {
        const share = (SLOT_COUNT * w) / sum;
        expect(after.get(id)!).toBeGreaterThanOrEqual(Math.floor(share) - 1);
        expect(after.get(id)!).toBeLessThanOrEqual(Math.ceil(share) + 1);
        expect(after.get(id)).toBe(targets.get(id));
        if (w === 0) expect(plan.drained).toContain(id);
      }
      expect(moved(plan)).toBe(minimalMoveCount(before, targets));
      for (const m of plan.moves) expect(counts(before).get(m.sourceId)!).toBeGreaterThan(targets.get(m.sourceId)!);
    }
  });

  it('rejects ownership where a slot has two owners', () => {
    const owners: Owners = new Map([
      ['a', [{ start: 0, end: 10 }]],
      ['b', [{ start: 10, end: 16383 }]],
    ]);
    expect(() => planRebalance(owners)).toThrow(/slot 10 is owned by both a and b/);
  });
});

describe('chunks and resuming', () => {
  it('reaches the same balanced end in bounded chunks, re-planned from live ownership', () => {
    const r = rng(4);
    for (let run = 0; run < 20; run++) {
      const n = int(r, 3, 8);
      const start = randomOwners(r, n);
      const fresh = Array.from({ length: int(r, 1, 4) }, (_, i) => mid(n + i));
      const full = planScaleOut(start, fresh);
      const total = moved(full);
      let live: Owners = new Map(start);
      for (const f of fresh) live.set(f, []);
      let done = 0;
      for (let step = 0; step < 1000; step++) {
        const plan = planScaleOut(live, fresh);
        if (plan.moves.length === 0) break;
        const chunk = planChunk(plan, 700);
        expect(moved(chunk)).toBeLessThanOrEqual(700);
        for (const wave of chunk.waves) {
          const nodes = wave.flatMap((m) => [m.sourceId, m.targetId]);
          expect(new Set(nodes).size).toBe(nodes.length);
        }
        live = applyMoves(live, chunk.moves);
        done += moved(chunk);
      }
      expect(done).toBe(total);
      const q = Math.floor(SLOT_COUNT / live.size);
      for (const c of counts(live).values()) expect([q, q + 1]).toContain(c);
    }
  });

  it('remainingMoves drops what is done and resumes a recorded plan', () => {
    const before = balancedOwners(3);
    const plan = planScaleIn(before, ['m01']);
    const first = planChunk(plan, 1000);
    expect(first.drained).toEqual([]);
    const live = applyMoves(before, first.moves);
    const rest = remainingMoves(live, plan);
    expect(moved(rest)).toBe(moved(plan) - 1000);
    expect(rest.drained).toEqual(['m01']);
    const end = applyMoves(live, rest.moves);
    expect(counts(end).get('m01')).toBe(0);
    expect(remainingMoves(end, plan).moves).toEqual([]);
    expect(planChunk(rest, SLOT_COUNT).drained).toEqual(['m01']);
  });

  it('colours waves without collisions even for a stale plan where a node gives and receives', () => {
    const waves = arrangeWaves([
      { sourceId: 'a', targetId: 'b', slots: [{ start: 0, end: 0 }] },
      { sourceId: 'b', targetId: 'c', slots: [{ start: 1, end: 1 }] },
      { sourceId: 'c', targetId: 'a', slots: [{ start: 2, end: 2 }] },
    ]);
    expect(waves).toHaveLength(3);
    for (const wave of waves) expect(wave).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

function nodes(domains: string[]): DesiredNode[] {
  return domains.map((domain, i) => ({ name: `redis-${i}`, ip: `10.0.0.${i + 1}`, port: 10000 + i, busPort: 20000 + i, domain }));
}

function assertCreate(plan: CreatePlan, input: DesiredNode[], masters: number, replicas: number) {
  const used = [...plan.masters.map((m) => m.node), ...plan.replicas.map((r) => r.node)];
  expect(used.sort()).toEqual(input.map((n) => n.name).sort());
  expect(plan.masters).toHaveLength(masters);
  expect(plan.masters.map((m) => m.slots[0])).toEqual(splitSlots(masters));
  for (const m of plan.masters) expect(plan.replicas.filter((r) => r.masterNode === m.node)).toHaveLength(replicas);
}

/** Replicas that share their master's domain. */
function colocated(plan: CreatePlan, input: DesiredNode[]): number {
  const domain = new Map(input.map((n) => [n.name, n.domain]));
  return plan.replicas.filter((r) => domain.get(r.node) === domain.get(r.masterNode)).length;
}

/** The fewest replica-with-master collisions any layout can have (exhaustive; small inputs only). */
function bestColocated(input: DesiredNode[], masters: number): number {
  const size = input.length / masters;
  let best = Infinity;
  const perm = [...input];
  const visit = (k: number) => {
    if (k === perm.length) {
      let bad = 0;
      for (let g = 0; g < masters; g++) {
        const group = perm.slice(g * size, (g + 1) * size);
        bad += group.slice(1).filter((n) => n.domain === group[0]!.domain).length;
      }
      best = Math.min(best, bad);
      return;
    }
    for (let i = k; i < perm.length; i++) {
      [perm[k], perm[i]] = [perm[i]!, perm[k]!];
      visit(k + 1);
      [perm[k], perm[i]] = [perm[i]!, perm[k]!];
    }
  };
  visit(0);
  return best;
}

describe('planCreate', () => {
  it('3x1 over 3 domains: masters on three domains, no replica with its master', () => {
    const input = nodes(['a', 'a', 'b', 'b', 'c', 'c']);
    const plan = planCreate(input, 3, 1);
    assertCreate(plan, input, 3, 1);
    expect(colocated(plan, input)).toBe(0);
    const domain = new Map(input.map((n) => [n.name, n.domain]));
    expect(new Set(plan.masters.map((m) => domain.get(m.node))).size).toBe(3);
  });

  it('6x1 over 3 domains: no replica with its master', () => {
    const input = nodes(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    const plan = planCreate(input, 6, 1);
    assertCreate(plan, input, 6, 1);
    expect(colocated(plan, input)).toBe(0);
  });

  it('3x2 over 3 domains: replicas of one master on the two other domains', () => {
    const input = nodes(['a', 'a', 'a', 'b', 'b', 'b', 'c', 'c', 'c']);
    const plan = planCreate(input, 3, 2);
    assertCreate(plan, input, 3, 2);
    const domain = new Map(input.map((n) => [n.name, n.domain]));
    for (const m of plan.masters) {
      const ds = [m.node, ...plan.replicas.filter((r) => r.masterNode === m.node).map((r) => r.node)].map((n) => domain.get(n));
      expect(new Set(ds).size).toBe(3);
    }
    expect(antiAffinityScore([])).toBe(0);
  });

  it('one domain still gives a valid layout', () => {
    const input = nodes(['h', 'h', 'h', 'h', 'h', 'h']);
    const plan = planCreate(input, 3, 1);
    assertCreate(plan, input, 3, 1);
    expect(colocated(plan, input)).toBe(3);
  });

  it('puts masters in small domains when a big one would force replicas onto their master', () => {
    const input = nodes(['a', 'a', 'a', 'a', 'b', 'c']);
    const plan = planCreate(input, 2, 2);
    assertCreate(plan, input, 2, 2);
    expect(colocated(plan, input)).toBe(0);
  });

  it('puts every master in the small domain when only that keeps replicas away (999 nodes)', () => {
    // 333 nodes on h0, 666 on h1, 333 masters with 2 replicas: the only perfect layout has all masters
    // on h0 and all replicas on h1, although that crowds the masters together.
    const input = nodes(Array.from({ length: 999 }, (_, i) => (i % 3 === 0 ? 'h0' : 'h1')));
    const plan = planCreate(input, 333, 2);
    assertCreate(plan, input, 333, 2);
    expect(colocated(plan, input)).toBe(0);
  }, 30_000);

  it('spreads masters over domains', () => {
    const domain = (input: DesiredNode[]) => new Map(input.map((n) => [n.name, n.domain]));
    // One a-a pair is unavoidable with four nodes on a; it must not cost a second master on a.
    const skewed = nodes(['a', 'a', 'a', 'a', 'b', 'c']);
    const plan2 = planCreate(skewed, 3, 1);
    expect(new Set(plan2.masters.map((m) => domain(skewed).get(m.node)))).toEqual(new Set(['a', 'b', 'c']));
    expect(colocated(plan2, skewed)).toBe(1);
  });

  it('is deterministic and independent of input order', () => {
    const input = nodes(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    const reversed = [...input].reverse();
    expect(planCreate(reversed, 3, 2)).toEqual(planCreate(input, 3, 2));
  });

  it('reaches the fewest possible colocations on random small shapes', () => {
    const r = rng(5);
    const shapes: [number, number][] = [
      [3, 1],
      [4, 1],
      [2, 2],
      [2, 3],
    ];
    for (let run = 0; run < 40; run++) {
      const [m, rep] = shapes[run % shapes.length]!;
      const d = int(r, 1, 4);
      const input = nodes(Array.from({ length: m * (1 + rep) }, () => 'abcd'[int(r, 0, d - 1)]!));
      const plan = planCreate(input, m, rep);
      assertCreate(plan, input, m, rep);
      expect(colocated(plan, input)).toBe(bestColocated(input, m));
    }
  });

  it('names the field on bad input', () => {
    expect(() => planCreate(nodes(['a', 'b']), 3, 1)).toThrow(/nodes: .* need 6 nodes, got 2/);
    expect(() => planCreate(nodes(['a']), 1, -1)).toThrow(/replicasPerMaster/);
    const dup = nodes(['a', 'b', 'c']);
    dup[1]!.name = dup[0]!.name;
    expect(() => planCreate(dup, 3, 0)).toThrow(/duplicate name/);
  });
});

// ---------------------------------------------------------------------------------------------

const id = (c: string) => c.repeat(40);
const VIEW = parseClusterNodes(`
${id('a')} 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
${id('b')} 10.0.0.2:7000@17000 master - 0 0 2 connected 5461-10922
${id('c')} 10.0.0.3:7000@17000 master - 0 0 3 connected 10923-16383
${id('d')} 10.0.0.4:7000@17000 slave ${id('b')} 0 0 2 connected
${id('e')} 10.0.0.5:7000@17000 slave ${id('c')} 0 0 3 connected
${id('f')} 10.0.0.6:7000@17000 slave ${id('c')} 0 0 3 connected
${id('1')} 10.0.0.7:7000@17000 slave ${id('c')} 0 0 3 connected
${id('2')} 10.0.0.8:7000@17000 slave,fail ${id('a')} 0 0 1 disconnected
`);
const DOMAINS: Record<string, string> = {
  [id('a')]: 'h1',
  [id('b')]: 'h2',
  [id('c')]: 'h3',
  [id('d')]: 'h1',
  [id('e')]: 'h3',
  [id('f')]: 'h1',
  [id('1')]: 'h2',
  [id('2')]: 'h2',
};

describe('planReplicas', () => {
  it('attaches free nodes to the masters with fewest replicas, outside their domain', () => {
    const candidates = nodes(['h1', 'h2', 'h3']);
    const plan = planReplicas(VIEW, { replicasPerMaster: 1, candidates, domains: DOMAINS });
    // a has no healthy replica (its replica is failing): it gets one, not from h1.
    expect(plan.attach).toHaveLength(1);
    expect(plan.attach[0]!.masterId).toBe(id('a'));
    expect(candidates.find((c) => c.name === plan.attach[0]!.node)!.domain).not.toBe('h1');
    // c has three: e (in c's own domain) goes first; f and 1 are equally placed and report no offset,
    // so the tie breaks by id.
    expect(plan.remove).toEqual([id('e'), id('f')]);
  });

  it('removes a replica sharing a domain with a sibling before a lagging one elsewhere', () => {
    const domains = { ...DOMAINS, [id('e')]: 'h1' };
    const plan = planReplicas(VIEW, {
      replicasPerMaster: 2,
      candidates: [],
      domains,
      offsets: { [id('1')]: 1, [id('e')]: 900, [id('f')]: 1000 },
    });
    expect(plan.remove).toEqual([id('e')]);
  });

  it('spreads attachments and fills every master up to the spec', () => {
    const candidates = nodes(['h1', 'h2', 'h3', 'h1', 'h2', 'h3']);
    const plan = planReplicas(VIEW, { replicasPerMaster: 3, candidates, domains: DOMAINS });
    const per = (m: string) => plan.attach.filter((a) => a.masterId === m).length;
    expect(per(id('a'))).toBe(3);
    expect(per(id('b'))).toBe(2);
    // c already has three, but e sits in c's domain: the one free node left (h1) takes its place.
    expect(per(id('c'))).toBe(1);
    expect(plan.remove).toEqual([id('e')]);
    const domainOf = new Map(candidates.map((c) => [c.name, c.domain]));
    for (const a of plan.attach) expect(domainOf.get(a.node)).not.toBe(DOMAINS[a.masterId]);
    expect(() => planReplicas(VIEW, { replicasPerMaster: 1, candidates, domains: DOMAINS, masterIds: [id('d')] })).toThrow(/masterIds/);
  });

  it('keeps a colocated replica when no free node outside the domain is left', () => {
    const plan = planReplicas(VIEW, { replicasPerMaster: 3, candidates: nodes(['h3']), domains: DOMAINS, masterIds: [id('c')] });
    expect(plan).toEqual({ attach: [], remove: [] });
    const swap = planReplicas(VIEW, { replicasPerMaster: 3, candidates: nodes(['h2']), domains: DOMAINS, masterIds: [id('c')] });
    expect(swap).toEqual({ attach: [{ node: 'redis-0', masterId: id('c') }], remove: [id('e')] });
  });
});
