// Running a migration, as redis-cli's reshard drives MoveSlot: the moves grouped into (source,
// target) pairs, disjoint pairs in parallel (each node in at most one at a time), progress reported
// as slots are handed over, and a pair carried on against the new primaries when its source or
// target fails over.
//
// Per slot the order is fixed: IMPORTING on the target, MIGRATING on the source, keys moved in
// byte-sized MIGRATE batches, no key of the slot left on the source, the target's replicas caught
// up, then SETSLOT NODE on the target, the source and the other masters. Speed comes from doing that
// for a group of slots of one pair per round trip, and from running disjoint pairs in parallel.
import type { RedisPool } from '../../connection.js';
import { rangesToSlots, slotsToRanges } from '../../topology.js';
import type { SlotMove } from '../../types.js';
import { successorOf } from '../../planner/failover.js';
import { liveReplicasOf, readView } from '../../view.js';
import { MigrationError, Run, settingsOf, type MigrateOptions, type MigrateResult, type PairStats } from './context.js';
import { flushHandover, type Handover } from './handover.js';
import { moveSlotGroup } from './slot-group.js';
import { errorMessage } from '../../../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

interface Pair {
  sourceId: string;
  targetId: string;
  slots: number[];
  moved: number[];
  keys: number;
  stats: PairStats;
  /** Replicas at the start, to find who took over if the source or target fails. */
  sourceReplicas: string[];
  targetReplicas: string[];
  error?: string;
}

function pairsOf(moves: SlotMove[]): Pair[] {
  const byKey = new Map<string, Pair>();
  for (const m of moves) {
    if (m.sourceId === m.targetId) throw new Error(`moves: source and target are the same node ${m.sourceId}`);
    const key = `${m.sourceId}>${m.targetId}`;
    let p = byKey.get(key);
    if (!p) {
      p = {
        sourceId: m.sourceId,
        targetId: m.targetId,
        slots: [],
        moved: [],
        keys: 0,
        stats: { groups: 0, keysPerSlot: 0 },
        sourceReplicas: [],
        targetReplicas: [],
      };
      byKey.set(key, p);
    }
    p.slots.push(...rangesToSlots(m.slots));
  }
  for (const p of byKey.values()) p.slots.sort((a, b) => a - b);
  return [...byKey.values()];
}

/** After a node of the pair failed: waits for its replica to take over and returns the new ids. */
async function awaitTakeover(run: Run, pair: Pair): Promise<{ sourceId: string; targetId: string } | undefined> {
  const deadline = Date.now() + run.s.failoverWaitMs;
  while (Date.now() < deadline) {
    const view = await run.refresh();
    const sourceId = successorOf(view, pair.sourceId, pair.sourceReplicas);
    const targetId = successorOf(view, pair.targetId, pair.targetReplicas);
    if (sourceId && targetId) return { sourceId, targetId };
    await sleep(250);
  }
  return undefined;
}

function noteReplicas(run: Run, pair: Pair): void {
  pair.sourceReplicas = liveReplicasOf(run.view, pair.sourceId).map((r) => r.id);
  pair.targetReplicas = liveReplicasOf(run.view, pair.targetId).map((r) => r.id);
}

/**
 * After a group failed: when the source or target went away, waits for its replica to take over
 * and returns true to carry on against the new primaries; otherwise records the error.
 */
async function recoverPair(run: Run, pair: Pair, err: unknown, takeovers: number): Promise<boolean> {
  const unreachable = err instanceof MigrationError && err.kind === 'unreachable';
  if (!unreachable || takeovers >= 2) {
    pair.error = errorMessage(err);
    return false;
  }
  const ids = await awaitTakeover(run, pair);
  if (!ids) {
    pair.error = `${errorMessage(err)}; no replica took over within ${run.s.failoverWaitMs} ms`;
    return false;
  }
  run.actions.push({
    kind: 'failover',
    message: `migration ${pair.sourceId}->${pair.targetId} continues as ${ids.sourceId}->${ids.targetId} after: ${errorMessage(err)}`,
    nodeId: ids.sourceId,
  });
  pair.sourceId = ids.sourceId;
  pair.targetId = ids.targetId;
  noteReplicas(run, pair);
  return true;
}

/** Slots per round trip: fewer when slots are heavy, so one round stays within groupBytes. */
function groupSize(run: Run, st: PairStats): number {
  const slotBytes = st.keysPerSlot * (st.avgKeyBytes ?? 100);
  return slotBytes > 0
    ? Math.max(1, Math.min(run.s.slotsPerGroup, Math.floor(run.s.groupBytes / slotBytes)))
    : Math.min(run.s.slotsPerGroup, 8);
}

/** Moves a pair's slots group by group, each group's hand-over riding on the next group's round trips. */
async function runPair(run: Run, pair: Pair, report: () => void): Promise<void> {
  noteReplicas(run, pair);
  let takeovers = 0;
  // Slots that were open when a node of the pair failed: the next group re-opens exactly these.
  let reopen: number[] = [];
  let group: number[] = [];
  let pending: Handover | undefined;
  let pendingKeys = 0;
  const settle = () => {
    if (!pending) return;
    pair.moved.push(...pending.slots);
    pair.keys += pendingKeys;
    run.slotsMoved += pending.slots.length;
    run.keysMoved += pendingKeys;
    pending = undefined;
    pendingKeys = 0;
    report();
  };
  for (;;) {
    try {
      if (!pair.slots.length || run.stopRequested()) {
        await flushHandover(run, pending);
        settle();
        return;
      }
      const again = reopen.length > 0;
      group = again ? reopen : pair.slots.slice(0, groupSize(run, pair.stats));
      const r = await moveSlotGroup(run, pair.sourceId, pair.targetId, group, pair.stats, pending, again);
      reopen = [];
      // moveSlotGroup sent the previous hand-over first.
      settle();
      const done = new Set(group);
      pair.slots = pair.slots.filter((slot) => !done.has(slot));
      pending = r.handover;
      pendingKeys = r.moved;
    } catch (err) {
      // Slots of the failed group (and a hand-over not yet confirmed) go back to the queue: they are
      // re-opened against whoever owns them now, which also finishes a half-done hand-over.
      const wasOpen = [...(pending?.slots ?? []), ...group];
      if (pending) {
        pair.slots = [...new Set([...pending.slots, ...pair.slots])].sort((a, b) => a - b);
        pair.keys += pendingKeys;
        run.keysMoved += pendingKeys;
        pending = undefined;
        pendingKeys = 0;
      }
      if (!(await recoverPair(run, pair, err, takeovers))) return;
      takeovers++;
      reopen = wasOpen;
    }
  }
}

/** Runs every pair as soon as neither of its nodes is busy in another (biggest pairs first). */
async function runPairs(run: Run, pairs: Pair[], parallel: boolean, report: () => void): Promise<void> {
  const busy = new Set<string>();
  const waiting = [...pairs];
  const running = new Set<Promise<void>>();
  for (;;) {
    if (!run.stopRequested()) {
      waiting.sort((a, b) => b.slots.length - a.slots.length);
      for (const p of [...waiting]) {
        if (!parallel && running.size > 0) break;
        if (busy.has(p.sourceId) || busy.has(p.targetId)) continue;
        waiting.splice(waiting.indexOf(p), 1);
        const nodes = [p.sourceId, p.targetId];
        nodes.forEach((n) => busy.add(n));
        const task: Promise<void> = runPair(run, p, report).finally(() => {
          nodes.forEach((n) => busy.delete(n));
          running.delete(task);
        });
        running.add(task);
      }
    }
    if (running.size === 0) return;
    await Promise.race(running);
  }
}

function resultOf(run: Run, pairs: Pair[]): MigrateResult {
  const remaining: SlotMove[] = [];
  for (const p of pairs) {
    if (p.moved.length)
      run.actions.push({
        kind: 'slot-moved',
        message: `${p.moved.length} slots and ${p.keys} keys moved from ${p.sourceId} to ${p.targetId}`,
        nodeId: p.targetId,
        slots: slotsToRanges(p.moved),
        keys: p.keys,
      });
    if (p.error) run.errors.push(`${p.sourceId}->${p.targetId}: ${p.error}`);
    if (p.slots.length) remaining.push({ sourceId: p.sourceId, targetId: p.targetId, slots: slotsToRanges(p.slots) });
  }
  if (run.replacedKeys.length)
    run.actions.push({
      kind: 'slot-moved',
      message: `${run.replacedKeys.length} keys already on the target were replaced by the source's copy`,
      keys: run.replacedKeys.length,
    });
  return {
    actions: run.actions,
    slotsMoved: run.slotsMoved,
    keysMoved: run.keysMoved,
    remaining,
    replacedKeys: run.replacedKeys,
    errors: run.errors,
    done: remaining.length === 0 && run.errors.length === 0,
  };
}

/**
 * Moves slots with their keys. `moves` may be a flat list or the planner's waves; either way
 * every (source, target) pair runs as soon as neither node is busy in another migration.
 */
export async function migrateSlots(pool: RedisPool, moves: SlotMove[] | SlotMove[][], opts: MigrateOptions = {}): Promise<MigrateResult> {
  const flat: SlotMove[] = (moves as (SlotMove | SlotMove[])[]).flatMap((m) => (Array.isArray(m) ? m : [m]));
  const settings = settingsOf(opts);
  const seeds = opts.endpoints ?? pool.endpoints();
  if (seeds.length === 0) throw new Error('migrate option endpoints: no endpoint to read the cluster from');
  const run = new Run(pool, seeds, settings, await readView(pool, seeds, { discover: true }));
  const pairs = pairsOf(flat);
  for (const p of pairs) {
    for (const id of [p.sourceId, p.targetId]) {
      const n = run.view.nodes.get(id);
      if (!n || !n.report || n.role !== 'master') throw new Error(`moves: node ${id} is not a reachable master`);
    }
  }
  const slotsTotal = pairs.reduce((n, p) => n + p.slots.length, 0);
  const report = () => opts.onProgress?.({ slotsTotal, slotsDone: run.slotsMoved, keysMoved: run.keysMoved });
  await runPairs(run, pairs, opts.parallel ?? true, report);
  await Promise.all(run.background);
  return resultOf(run, pairs);
}
