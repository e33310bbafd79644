// Moving slots and their keys between masters with the legacy (MIGRATE) protocol, safely and fast.
//
// Per slot the order is fixed: IMPORTING on the target, MIGRATING on the source, keys moved in
// byte-sized MIGRATE batches, no key of the slot left on the source (a zero COUNTKEYSINSLOT, or an
// empty GETKEYSINSLOT taken while MIGRATING), the target's replicas caught up, then SETSLOT NODE
// on the target, the source and the other masters. Speed comes from doing that for a group of
// slots of one (source, target) pair per round trip, and from running disjoint pairs in parallel
// (each node in at most one migration at a time).
import { isConnectionError, type RedisPool } from '../connection.js';
import { rangesToSlots, slotsToRanges } from '../topology.js';
import type { ClusterProblem, EngineAction, Endpoint, SlotMove } from '../types.js';
import { endpointOf, liveMasters, liveReplicasOf, nodeEndpoint, readView, type ClusterView } from '../view.js';
import { errorMessage, sleep } from './util.js';

export interface MigrateOptions {
  /** Upper bound of one MIGRATE call's payload (sampled with MEMORY USAGE). Default 4 MiB. */
  batchBytes?: number;
  /** Upper bound of keys in one MIGRATE call. Default 1000. */
  maxKeysPerBatch?: number;
  /** MIGRATE's idle timeout; keep it below cluster-node-timeout. Default 10000. */
  migrateTimeoutMs?: number;
  /** Run disjoint (source, target) pairs at the same time. Default true. */
  parallel?: boolean;
  /** Most slots of one pair open at the same time. Default 64. */
  slotsPerGroup?: number;
  /** Bytes moved per group round trip the group size adapts to. Default 8 MiB. */
  groupBytes?: number;
  /** Stop cleanly (between slot groups) once Date.now() passes this; the rest is reported. */
  deadline?: number;
  /** Stop cleanly (between slot groups) when aborted. */
  signal?: AbortSignal;
  /** Bounded wait for the target's replicas to reach its offset before a slot is handed over. */
  replicaWaitMs?: number;
  /** How long to wait for a replica to take over a failed source or target. Default 20000. */
  failoverWaitMs?: number;
  /**
   * One epoch bump and broadcast per slot group instead of per slot (see targetHandoverCmds).
   * Default true; false gives redis-cli's per-slot hand-over.
   */
  groupedHandover?: boolean;
  /** How long MIGRATE may keep meeting CLUSTERDOWN/TRYAGAIN before the pair stops. Default 30000. */
  clusterDownWaitMs?: number;
  /** Where to look for the nodes; default every endpoint the pool has seen. */
  endpoints?: Endpoint[];
  onProgress?(p: MigrateProgress): void;
  /**
   * Called after every MIGRATE round of a group while its slots are open; an exception here stops
   * the run as a crash would (the slots stay open), which is how tests interrupt a migration.
   */
  onBatch?(info: { sourceId: string; targetId: string; slots: number[]; keysMoved: number }): void | Promise<void>;
}

export interface MigrateProgress {
  slotsTotal: number;
  slotsDone: number;
  keysMoved: number;
}

export interface MigrateResult {
  actions: EngineAction[];
  slotsMoved: number;
  keysMoved: number;
  /** Moves not done (deadline, abort or error), by the current ids of their source and target. */
  remaining: SlotMove[];
  /** Keys the target already had and that were overwritten with the source's copy. */
  replacedKeys: string[];
  errors: string[];
  done: boolean;
}

const DEFAULTS = {
  batchBytes: 4 * 1024 * 1024,
  maxKeysPerBatch: 1000,
  migrateTimeoutMs: 10_000,
  slotsPerGroup: 64,
  groupBytes: 8 * 1024 * 1024,
  replicaWaitMs: 2000,
  failoverWaitMs: 20_000,
  clusterDownWaitMs: 30_000,
  groupedHandover: true,
};

type Settings = typeof DEFAULTS & Pick<MigrateOptions, 'deadline' | 'signal' | 'onBatch'>;

/** Shared state of one executor run. */
class Run {
  map: ClusterView;
  readonly actions: EngineAction[] = [];
  readonly replacedKeys: string[] = [];
  readonly errors: string[] = [];
  readonly background = new Set<Promise<unknown>>();
  slotsMoved = 0;
  /** Each master's own config epoch, as it last reported it (CLUSTER INFO cluster_my_epoch). */
  readonly epochs = new Map<string, number>();
  /** Two masters shared an epoch at the start: a collision bump could outrank a grouped claim. */
  epochCollision = false;
  keysMoved = 0;

  constructor(
    readonly pool: RedisPool,
    readonly seeds: Endpoint[],
    readonly s: Settings,
    map: ClusterView,
  ) {
    this.map = map;
    const seen = new Set<number>();
    for (const m of liveMasters(map)) {
      const epoch = m.line.configEpoch;
      if (epoch === undefined) continue;
      if (seen.has(epoch)) this.epochCollision = true;
      seen.add(epoch);
      this.epochs.set(m.id, epoch);
    }
  }

  /** Records the epoch a node reported in a CLUSTER INFO reply. */
  noteEpoch(id: string, info: unknown): void {
    const m = /cluster_my_epoch:(\d+)/.exec(info instanceof Error ? '' : String(info));
    if (m) this.epochs.set(id, Math.max(this.epochs.get(id) ?? 0, Number(m[1])));
  }

  stopRequested(): boolean {
    return (this.s.deadline !== undefined && Date.now() >= this.s.deadline) || !!this.s.signal?.aborted;
  }

  async refresh(): Promise<ClusterView> {
    this.map = await readView(this.pool, this.seeds, { discover: true });
    return this.map;
  }
}

/** Estimated cost of a pair's keys, refined as the pair goes. */
interface PairStats {
  avgKeyBytes?: number;
  groups: number;
  keysPerSlot: number;
}

class MigrationError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'refused',
  ) {
    super(message);
  }
}

const isBusyKey = (e: Error) => /BUSYKEY/.test(e.message);
const isIoErr = (e: Error) => /IOERR/.test(e.message);
const isTransient = (e: Error) => /CLUSTERDOWN|TRYAGAIN|LOADING/.test(e.message);

function migrateArgs(run: Run, target: Endpoint, keys: Buffer[], replace: boolean): Arg[] {
  const args: Arg[] = ['MIGRATE', target.ip, target.port, '', 0, run.s.migrateTimeoutMs];
  if (replace) args.push('REPLACE');
  if (run.pool.password) args.push('AUTH', run.pool.password);
  args.push('KEYS', ...keys);
  return args;
}

function throwOn(results: (unknown | Error)[], what: string, tolerate?: (e: Error) => boolean): void {
  for (const r of results)
    if (r instanceof Error && !tolerate?.(r)) throw new MigrationError(`${what}: ${r.message}`, isConnectionError(r) ? 'unreachable' : 'refused');
}

type Arg = string | number | Buffer;

async function pipe(run: Run, ep: Endpoint, cmds: Arg[][], lane: 'control' | 'bulk' = 'control', buffers = false) {
  try {
    return await run.pool.pipeline(ep, cmds, lane, { buffers });
  } catch (err) {
    throw new MigrationError(`${ep.ip}:${ep.port}: ${errorMessage(err)}`, isConnectionError(err) ? 'unreachable' : 'refused');
  }
}

/** Waits (bounded) until the target's online replicas have its replication offset. */
async function waitTargetReplicas(run: Run, targetId: string): Promise<void> {
  const replicas = liveReplicasOf(run.map, targetId);
  if (replicas.length === 0) return;
  const target = nodeEndpoint(run.map, targetId);
  const [info] = await pipe(run, target, [['INFO', 'replication']]);
  if (info instanceof Error) throw new MigrationError(`INFO replication on target: ${info.message}`, 'refused');
  const offset = Number(/master_repl_offset:(\d+)/.exec(String(info))?.[1] ?? 0);
  const deadline = Date.now() + run.s.replicaWaitMs;
  await Promise.all(
    replicas.map(async (r) => {
      for (;;) {
        try {
          const text = String(await run.pool.call(endpointOf(r), 'INFO', 'replication'));
          if (Number(/slave_repl_offset:(\d+)/.exec(text)?.[1] ?? -1) >= offset) return;
        } catch {
          // An unreachable replica cannot be waited for; the bound below applies.
        }
        if (Date.now() >= deadline) {
          run.pool.log.warn({ replica: r.id, offset }, 'replica did not reach the target offset in time; handing over anyway');
          return;
        }
        await sleep(5);
      }
    }),
  );
}

/**
 * The hand-over of a group whose keys are all on the target, not yet sent: it rides on the next
 * group's first round trips (target first, then source), or is flushed on its own.
 */
interface Handover {
  sourceId: string;
  targetId: string;
  slots: number[];
}

const nodeCmds = (h: Handover | undefined) => (h ? h.slots.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'NODE', h.targetId]) : []);

/**
 * The target's half of a hand-over. Per slot, SETSLOT NODE on an importing target bumps its epoch
 * and broadcasts a PONG that every node must process: with thousands of slots that broadcast is
 * most of the cluster's CPU. Grouped, the group's other slots are first closed and claimed (STABLE
 * then NODE, in one pipeline, so no key is ever unowned) and the last slot is finalised the
 * importing way: its epoch bump and broadcast then carry the whole group's claim. Claiming before
 * the bump is only done when the target's epoch is already above the source's, so no node can
 * hold an older claim that outranks it; otherwise (a target's first hand-over, an epoch collision)
 * every slot is handed over the per-slot way.
 */
function targetHandoverCmds(run: Run, h: Handover | undefined): (string | number)[][] {
  if (!h) return [];
  const targetEpoch = run.epochs.get(h.targetId);
  const sourceEpoch = run.epochs.get(h.sourceId);
  const grouped =
    run.s.groupedHandover && h.slots.length > 1 && !run.epochCollision && targetEpoch !== undefined && sourceEpoch !== undefined && targetEpoch > sourceEpoch;
  if (!grouped) return nodeCmds(h);
  const rest = h.slots.slice(0, -1);
  const last = h.slots[h.slots.length - 1]!;
  return [...rest.flatMap((slot) => [['CLUSTER', 'SETSLOT', slot, 'STABLE'], ['CLUSTER', 'SETSLOT', slot, 'NODE', h.targetId]]), ['CLUSTER', 'SETSLOT', last, 'NODE', h.targetId]];
}

// A source that gave away its last slot may already be a replica of the target (replica migration).
const sourceNodeTolerated = (e: Error) => /only with masters|Unknown node|LOADING/i.test(e.message) || isConnectionError(e);

/** SETSLOT NODE on the other masters: only speeds up convergence (gossip does the same). */
function tellOthers(run: Run, h: Handover): void {
  for (const m of liveMasters(run.map)) {
    if (m.id === h.sourceId || m.id === h.targetId) continue;
    const p = run.pool.pipeline(endpointOf(m), nodeCmds(h)).catch(() => undefined);
    run.background.add(p);
    void p.finally(() => run.background.delete(p));
  }
}

/** Sends a pending hand-over on its own: target, then source, then the others. */
async function flushHandover(run: Run, h: Handover | undefined): Promise<void> {
  if (!h || h.slots.length === 0) return;
  const res = await pipe(run, nodeEndpoint(run.map, h.targetId), [...targetHandoverCmds(run, h), ['CLUSTER', 'INFO']]);
  run.noteEpoch(h.targetId, res.pop());
  throwOn(res, `SETSLOT NODE on target ${h.targetId}`);
  throwOn(await pipe(run, nodeEndpoint(run.map, h.sourceId), nodeCmds(h)), `SETSLOT NODE on source ${h.sourceId}`, sourceNodeTolerated);
  tellOthers(run, h);
}

/**
 * Moves every key of `slots` from source to target. The previous group's hand-over (`carry`) is
 * sent first in the same round trips. Returns the keys moved and this group's hand-over, which the
 * caller sends with the next group or flushes. Safe to call on slots already open (they are
 * re-opened against the given nodes) or already owned by the target (only the hand-over remains).
 */
async function moveSlotGroup(
  run: Run,
  sourceId: string,
  targetId: string,
  slots: number[],
  stats: PairStats,
  carry?: Handover,
  reopen = false,
): Promise<{ moved: number; handover: Handover }> {
  const src = nodeEndpoint(run.map, sourceId);
  const dst = nodeEndpoint(run.map, targetId);
  const s = run.s;
  if (carry && (carry.sourceId !== sourceId || carry.targetId !== targetId)) {
    await flushHandover(run, carry);
    carry = undefined;
  }
  let perBatch = s.maxKeysPerBatch;
  if (stats.avgKeyBytes) perBatch = Math.max(1, Math.min(s.maxKeysPerBatch, Math.floor(s.batchBytes / stats.avgKeyBytes)));

  if (reopen) {
    // A node never updates the owner of a slot it is importing, so after the source failed over
    // the target still believes the dead master owns it (and reports CLUSTERDOWN): tell it.
    const view = await run.pool.readReport(dst).catch((err: unknown) => {
      throw new MigrationError(`target ${targetId}: ${errorMessage(err)}`, 'unreachable');
    });
    const stale = slots.filter((slot) => {
      const owner = view.nodes.find((n) => n.role === 'master' && n.slots.some((r) => r.start <= slot && slot <= r.end));
      return owner?.id !== sourceId && owner?.id !== targetId;
    });
    for (let attempt = 0; stale.length; attempt++) {
      const res = await pipe(run, dst, stale.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'NODE', sourceId]));
      // The target may not yet know that the new primary was promoted: let gossip catch up.
      const lagging = (e: Error) => /not a master|know about node|Unknown node/i.test(e.message);
      if (attempt < 100 && res.some((r) => r instanceof Error && lagging(r))) {
        await sleep(100);
        continue;
      }
      throwOn(res, `SETSLOT NODE (re-open) on target ${targetId}`);
      break;
    }
  }

  // 1. IMPORTING on the target first, so the source's ASK redirects land on a node that accepts them.
  let open = [...slots];
  const ownedByTarget: number[] = [];
  let prefix = targetHandoverCmds(run, carry);
  for (let attempt = 0; ; attempt++) {
    const res = await pipe(run, dst, [...prefix, ...open.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId]), ['CLUSTER', 'INFO']]);
    run.noteEpoch(targetId, res.pop());
    throwOn(res.slice(0, prefix.length), `SETSLOT NODE on target ${targetId}`);
    const imp = res.slice(prefix.length);
    prefix = [];
    const unknown = imp.some((r) => r instanceof Error && /know about node/i.test(r.message));
    imp.forEach((r, i) => {
      if (r instanceof Error && /already the owner/i.test(r.message)) ownedByTarget.push(open[i]!);
    });
    throwOn(imp, `SETSLOT IMPORTING on target ${targetId}`, (e) => /know about node|already the owner/i.test(e.message));
    open = open.filter((slot) => !ownedByTarget.includes(slot));
    if (!unknown) break;
    // The target has not yet learned the source through gossip.
    if (attempt > 100) throw new MigrationError(`target ${targetId} does not know source ${sourceId}`, 'refused');
    await sleep(50);
  }

  // 2. MIGRATING on the source, with the first listing of keys in the same round trip.
  prefix = nodeCmds(carry);
  let firstKeys: unknown[] = [];
  for (let attempt = 0; ; attempt++) {
    const cmds = [
      ...prefix,
      ...open.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId]),
      ...open.map((slot) => ['CLUSTER', 'GETKEYSINSLOT', slot, perBatch]),
      ['CLUSTER', 'INFO'],
    ];
    const res = await pipe(run, src, cmds, 'control', true);
    run.noteEpoch(sourceId, res.pop());
    throwOn(res.slice(0, prefix.length), `SETSLOT NODE on source ${sourceId}`, sourceNodeTolerated);
    const mig = res.slice(prefix.length, prefix.length + open.length);
    firstKeys = res.slice(prefix.length + open.length);
    prefix = [];
    const unknown = mig.some((r) => r instanceof Error && /know about node/i.test(r.message));
    throwOn(mig, `SETSLOT MIGRATING on source ${sourceId}`, (e) => /know about node/i.test(e.message));
    if (!unknown) break;
    if (attempt > 100) throw new MigrationError(`source ${sourceId} does not know target ${targetId}`, 'refused');
    await sleep(50);
  }
  if (carry) tellOthers(run, carry);
  throwOn(firstKeys, `GETKEYSINSLOT on source ${sourceId}`);

  // 3. Keys. Each round trip migrates one batch per slot and, in the same pipeline, asks for the
  // slot's next batch (GETKEYSINSLOT) or, when the batch held all the keys listed, for
  // COUNTKEYSINSLOT. A slot is finished only on a zero count or an empty listing taken while the
  // source was already MIGRATING: from then on no key can be born on the source.
  let moved = 0;
  type Work = { slot: number; keys: Buffer[] };
  let work: Work[] = [];
  let relist: number[] = [];
  open.forEach((slot, i) => {
    const keys = firstKeys[i] as Buffer[];
    if (keys.length) work.push({ slot, keys });
  });
  if (work.length && (stats.avgKeyBytes === undefined || stats.groups % 16 === 0)) {
    // Size batches by bytes: sample a few keys, and shrink the batches when values are big.
    const sample = work[0]!.keys.slice(0, 3);
    const sizes = await pipe(run, src, sample.map((k) => ['MEMORY', 'USAGE', k]));
    const known = sizes.filter((x): x is number => typeof x === 'number');
    if (known.length) stats.avgKeyBytes = known.reduce((a, b) => a + b, 0) / known.length;
    const fit = Math.max(1, Math.min(s.maxKeysPerBatch, Math.floor(s.batchBytes / (stats.avgKeyBytes ?? 1))));
    if (fit < perBatch) {
      perBatch = fit;
      for (const w of work) if (w.keys.length > perBatch) w.keys = w.keys.slice(0, perBatch);
    }
  }
  const replace = new Set<number>();
  let ioErrors = 0;
  let downSince: number | undefined;
  while (work.length || relist.length) {
    if (relist.length) {
      const listed = await pipe(run, src, relist.map((slot) => ['CLUSTER', 'GETKEYSINSLOT', slot, perBatch]), 'control', true);
      throwOn(listed, `GETKEYSINSLOT on source ${sourceId}`);
      relist.forEach((slot, i) => {
        const keys = listed[i] as Buffer[];
        if (keys.length) work.push({ slot, keys });
      });
      relist = [];
      if (!work.length) break;
    }
    const cmds: Arg[][] = [];
    for (const w of work) {
      cmds.push(migrateArgs(run, dst, w.keys, replace.has(w.slot)));
      cmds.push(w.keys.length < perBatch ? ['CLUSTER', 'COUNTKEYSINSLOT', w.slot] : ['CLUSTER', 'GETKEYSINSLOT', w.slot, perBatch]);
    }
    const res = await pipe(run, src, cmds, 'bulk', true);
    const next: Work[] = [];
    let ioErr: Error | undefined;
    let down: Error | undefined;
    for (let i = 0; i < work.length; i++) {
      const w = work[i]!;
      const m = res[2 * i];
      const after = res[2 * i + 1];
      if (m instanceof Error) {
        if (isBusyKey(m)) {
          // The source is the slot's authority while it is migrating: its copy wins. The keys the
          // target refused are the ones still listed on the source; they go again with REPLACE.
          replace.add(w.slot);
        } else if (isIoErr(m) || isConnectionError(m)) ioErr = m;
        else if (isTransient(m)) down = m;
        else throw new MigrationError(`MIGRATE slot ${w.slot} from ${sourceId} to ${targetId}: ${m.message}`, 'refused');
      } else {
        if (String(m) !== 'NOKEY') moved += w.keys.length;
        if (replace.delete(w.slot)) for (const k of w.keys) if (run.replacedKeys.length < 10_000) run.replacedKeys.push(k.toString());
      }
      if (after instanceof Error)
        throw new MigrationError(`listing slot ${w.slot} on ${sourceId}: ${after.message}`, isConnectionError(after) ? 'unreachable' : 'refused');
      if (typeof after === 'number') {
        if (after > 0) relist.push(w.slot);
      } else if ((after as Buffer[]).length) next.push({ slot: w.slot, keys: after as Buffer[] });
    }
    if (ioErr) {
      // The target did not answer MIGRATE: retry only while it is still a reachable master.
      if (++ioErrors > 5) throw new MigrationError(`MIGRATE to ${targetId} keeps failing: ${ioErr.message}`, 'unreachable');
      try {
        const rep = await run.pool.readReport(dst);
        if (rep.myId !== targetId || rep.nodes.find((n) => n.flags.includes('myself'))?.role !== 'master')
          throw new Error(`${targetId} is no longer the master at ${dst.ip}:${dst.port}`);
      } catch (err) {
        throw new MigrationError(`target ${targetId} after IOERR: ${errorMessage(err)}`, 'unreachable');
      }
      await sleep(100 * ioErrors);
    }
    if (down) {
      // The target refuses while the cluster is down (e.g. a failover elsewhere): wait, bounded.
      downSince ??= Date.now();
      if (Date.now() - downSince > s.clusterDownWaitMs) throw new MigrationError(`MIGRATE to ${targetId}: ${down.message}`, 'refused');
      await sleep(200);
    } else downSince = undefined;
    if (s.onBatch) await s.onBatch({ sourceId, targetId, slots: [...open], keysMoved: moved });
    work = next;
  }
  stats.groups++;
  if (open.length) stats.keysPerSlot = moved / open.length;

  // 4. Durability: the source has deleted what the target acknowledged; let the target's replicas
  // have it too before the slots change hands.
  if (moved > 0) await waitTargetReplicas(run, targetId);
  return { moved, handover: { sourceId, targetId, slots: [...open, ...ownedByTarget] } };
}

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
      p = { sourceId: m.sourceId, targetId: m.targetId, slots: [], moved: [], keys: 0, stats: { groups: 0, keysPerSlot: 0 }, sourceReplicas: [], targetReplicas: [] };
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
  const resolve = (map: ClusterView, id: string, replicas: string[]): string | undefined => {
    const n = map.nodes.get(id);
    if (n?.report && n.role === 'master') return id;
    if (n?.report && n.role === 'replica' && n.masterId && replicas.includes(n.masterId)) return n.masterId;
    for (const r of replicas) {
      const rn = map.nodes.get(r);
      if (rn?.report && rn.role === 'master') return r;
    }
    return undefined;
  };
  while (Date.now() < deadline) {
    const map = await run.refresh();
    const sourceId = resolve(map, pair.sourceId, pair.sourceReplicas);
    const targetId = resolve(map, pair.targetId, pair.targetReplicas);
    if (sourceId && targetId) return { sourceId, targetId };
    await sleep(250);
  }
  return undefined;
}

async function runPair(run: Run, pair: Pair, report: () => void): Promise<void> {
  pair.sourceReplicas = liveReplicasOf(run.map, pair.sourceId).map((r) => r.id);
  pair.targetReplicas = liveReplicasOf(run.map, pair.targetId).map((r) => r.id);
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
      const st = pair.stats;
      // Fewer slots per round trip when slots are heavy, so one round stays within groupBytes.
      const slotBytes = st.keysPerSlot * (st.avgKeyBytes ?? 100);
      const size = slotBytes > 0 ? Math.max(1, Math.min(run.s.slotsPerGroup, Math.floor(run.s.groupBytes / slotBytes))) : Math.min(run.s.slotsPerGroup, 8);
      const again = reopen.length > 0;
      group = again ? reopen : pair.slots.slice(0, size);
      const r = await moveSlotGroup(run, pair.sourceId, pair.targetId, group, st, pending, again);
      reopen = [];
      // moveSlotGroup sent the previous hand-over first.
      settle();
      const done = new Set(group);
      pair.slots = pair.slots.filter((slot) => !done.has(slot));
      pending = r.handover;
      pendingKeys = r.moved;
    } catch (err) {
      const unreachable = err instanceof MigrationError && err.kind === 'unreachable';
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
      if (!unreachable || takeovers >= 2) {
        pair.error = errorMessage(err);
        return;
      }
      // The source or target went away: wait for its replica to take over, then re-open the
      // open slots against the new primaries and carry on.
      takeovers++;
      const ids = await awaitTakeover(run, pair);
      if (!ids) {
        pair.error = `${errorMessage(err)}; no replica took over within ${run.s.failoverWaitMs} ms`;
        return;
      }
      run.actions.push({
        kind: 'failover',
        message: `migration ${pair.sourceId}->${pair.targetId} continues as ${ids.sourceId}->${ids.targetId} after: ${errorMessage(err)}`,
        nodeId: ids.sourceId,
      });
      pair.sourceId = ids.sourceId;
      pair.targetId = ids.targetId;
      reopen = wasOpen;
      pair.sourceReplicas = liveReplicasOf(run.map, ids.sourceId).map((r) => r.id);
      pair.targetReplicas = liveReplicasOf(run.map, ids.targetId).map((r) => r.id);
    }
  }
}

/**
 * Moves slots with their keys. `moves` may be a flat list or the planner's waves; either way
 * every (source, target) pair runs as soon as neither node is busy in another migration.
 */
export async function migrateSlots(pool: RedisPool, moves: SlotMove[] | SlotMove[][], opts: MigrateOptions = {}): Promise<MigrateResult> {
  const flat: SlotMove[] = (moves as (SlotMove | SlotMove[])[]).flatMap((m) => (Array.isArray(m) ? m : [m]));
  const settings: Settings = {
    batchBytes: opts.batchBytes ?? DEFAULTS.batchBytes,
    maxKeysPerBatch: opts.maxKeysPerBatch ?? DEFAULTS.maxKeysPerBatch,
    migrateTimeoutMs: opts.migrateTimeoutMs ?? DEFAULTS.migrateTimeoutMs,
    slotsPerGroup: opts.slotsPerGroup ?? DEFAULTS.slotsPerGroup,
    groupBytes: opts.groupBytes ?? DEFAULTS.groupBytes,
    replicaWaitMs: opts.replicaWaitMs ?? DEFAULTS.replicaWaitMs,
    failoverWaitMs: opts.failoverWaitMs ?? DEFAULTS.failoverWaitMs,
    clusterDownWaitMs: opts.clusterDownWaitMs ?? DEFAULTS.clusterDownWaitMs,
    groupedHandover: opts.groupedHandover ?? DEFAULTS.groupedHandover,
    deadline: opts.deadline,
    signal: opts.signal,
    onBatch: opts.onBatch,
  };
  for (const [k, v] of Object.entries({ batchBytes: settings.batchBytes, maxKeysPerBatch: settings.maxKeysPerBatch, slotsPerGroup: settings.slotsPerGroup }))
    if (!Number.isInteger(v) || v < 1) throw new Error(`migrate option ${k} must be a positive integer, got ${v}`);
  const seeds = opts.endpoints ?? pool.endpoints();
  if (seeds.length === 0) throw new Error('migrate option endpoints: no endpoint to read the cluster from');
  const run = new Run(pool, seeds, settings, await readView(pool, seeds, { discover: true }));
  const pairs = pairsOf(flat);
  for (const p of pairs) {
    for (const id of [p.sourceId, p.targetId]) {
      const n = run.map.nodes.get(id);
      if (!n || !n.report || n.role !== 'master') throw new Error(`moves: node ${id} is not a reachable master`);
    }
  }
  const slotsTotal = pairs.reduce((n, p) => n + p.slots.length, 0);
  const report = () => opts.onProgress?.({ slotsTotal, slotsDone: run.slotsMoved, keysMoved: run.keysMoved });

  const busy = new Set<string>();
  const waiting = [...pairs];
  const running = new Set<Promise<void>>();
  const parallel = opts.parallel ?? true;
  for (;;) {
    if (!run.stopRequested()) {
      // Biggest pairs first, each node in at most one migration at a time.
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
    if (running.size === 0) break;
    await Promise.race(running);
  }
  await Promise.all(run.background);

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
    run.actions.push({ kind: 'slot-moved', message: `${run.replacedKeys.length} keys already on the target were replaced by the source's copy`, keys: run.replacedKeys.length });
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

export interface ResumeResult {
  actions: EngineAction[];
  problems: ClusterProblem[];
  keysMoved: number;
  done: boolean;
}

/**
 * Finds slots left open (`[s->-id]` / `[s-<-id]`) by a crashed executor or a failover and rolls
 * them forward to the target: redis-cli fix's case 1, re-opened on the new primary when a side
 * failed over. An importing node that holds keys is never set STABLE.
 */
export async function resumeOpenSlots(pool: RedisPool, endpoints: Endpoint[], opts: MigrateOptions = {}): Promise<ResumeResult> {
  const actions: EngineAction[] = [];
  const problems: ClusterProblem[] = [];
  const settings: Settings = { ...DEFAULTS, ...stripUndefined(opts) } as Settings;
  const run = new Run(pool, endpoints, settings, await readView(pool, endpoints, { discover: true }));
  const map = run.map;
  const open = new Map<number, { migrating: { node: string; peer: string }[]; importing: { node: string; peer: string }[] }>();
  for (const m of liveMasters(map)) {
    for (const o of m.line.openSlots) {
      let e = open.get(o.slot);
      if (!e) open.set(o.slot, (e = { migrating: [], importing: [] }));
      e[o.state].push({ node: m.id, peer: o.peerId });
    }
  }
  // A failed-over node may be back as a replica: its master is the shard's current primary.
  const currentPrimary = (id: string): string | undefined => {
    const n = map.nodes.get(id);
    if (n?.report && n.role === 'master') return id;
    if (n?.report && n.role === 'replica' && n.masterId && map.nodes.get(n.masterId)?.report) return n.masterId;
    return undefined;
  };
  let keysMoved = 0;
  // Slots with the same owner and target are resumed together, like the executor would move them.
  const groups = new Map<string, number[]>();
  for (const [slot, e] of [...open.entries()].sort((a, b) => a[0] - b[0])) {
    const owner = map.owners[slot];
    if (!owner || !map.nodes.get(owner)?.report) {
      problems.push({ code: 'open-slot', message: `slot ${slot} is open but its owner is not reachable`, slot });
      continue;
    }
    let target: string | undefined;
    const mig = e.migrating.find((m) => m.node === owner);
    if (mig) target = currentPrimary(mig.peer);
    if (mig && !target && map.nodes.has(mig.peer)) {
      // The target is down and no replica has taken over yet: keys may already be there, so the
      // slot stays open (the owner keeps redirecting) until the target or its replica is back.
      problems.push({ code: 'open-slot', message: `slot ${slot} is migrating to ${mig.peer}, which is not reachable; left open until it or its replica answers`, slot, nodeId: mig.peer });
      continue;
    }
    if (!target || target === owner) {
      const imp = e.importing.filter((i) => i.node !== owner);
      if (imp.length === 1) target = imp[0]!.node;
    }
    if (!target || target === owner) {
      // The target failed over and its new primary has no flag: find it by the keys it holds.
      const holders: string[] = [];
      for (const m of liveMasters(map)) {
        if (m.id === owner) continue;
        const n = Number(await pool.call(endpointOf(m), 'CLUSTER', 'COUNTKEYSINSLOT', slot));
        if (n > 0) holders.push(m.id);
      }
      if (holders.length === 1) target = holders[0];
      else if (holders.length > 1) {
        problems.push({ code: 'open-slot', message: `slot ${slot} has keys on several non-owners (${holders.join(', ')}); left for a human`, slot });
        continue;
      }
    }
    if (!target || target === owner) {
      // Nothing was moved anywhere: the owner holds every key, so closing its flag loses nothing.
      for (const m of e.migrating) {
        const node = map.nodes.get(m.node)!;
        await pool.call(endpointOf(node), 'CLUSTER', 'SETSLOT', slot, 'STABLE');
      }
      for (const i of e.importing) {
        const node = map.nodes.get(i.node)!;
        const n = Number(await pool.call(endpointOf(node), 'CLUSTER', 'COUNTKEYSINSLOT', slot));
        if (n === 0) await pool.call(endpointOf(node), 'CLUSTER', 'SETSLOT', slot, 'STABLE');
        else problems.push({ code: 'open-slot', message: `slot ${slot}: ${i.node} is importing and holds ${n} keys; not closed`, slot, nodeId: i.node });
      }
      actions.push({ kind: 'slot-resumed', message: `slot ${slot} closed on its owner ${owner}: no key had moved`, slots: [{ start: slot, end: slot }], nodeId: owner });
      continue;
    }
    const key = `${owner}>${target}`;
    groups.set(key, [...(groups.get(key) ?? []), slot]);
  }
  for (const [key, slots] of groups) {
    const [sourceId, targetId] = key.split('>') as [string, string];
    const stats: PairStats = { groups: 0, keysPerSlot: 0 };
    try {
      for (let i = 0; i < slots.length; i += settings.slotsPerGroup) {
        const group = slots.slice(i, i + settings.slotsPerGroup);
        const { moved, handover } = await moveSlotGroup(run, sourceId, targetId, group, stats, undefined, true);
        await flushHandover(run, handover);
        keysMoved += moved;
        actions.push({ kind: 'slot-resumed', message: `${group.length} open slots rolled forward from ${sourceId} to ${targetId} (${moved} keys)`, slots: slotsToRanges(group), nodeId: targetId, keys: moved });
      }
    } catch (err) {
      problems.push({ code: 'open-slot', message: `resuming slots ${slots.join(',')} from ${sourceId} to ${targetId}: ${errorMessage(err)}` });
    }
  }
  // Importing flags left with no keys on masters that are not the owner (a superseded target).
  if (open.size) {
    const after = await readView(pool, endpoints, { discover: true });
    for (const m of liveMasters(after))
      for (const o of m.line.openSlots) {
        if (o.state !== 'importing' || after.owners[o.slot] === m.id || groups.has(`${after.owners[o.slot]}>${m.id}`)) continue;
        const n = Number(await pool.call(endpointOf(m), 'CLUSTER', 'COUNTKEYSINSLOT', o.slot));
        if (n === 0) await pool.call(endpointOf(m), 'CLUSTER', 'SETSLOT', o.slot, 'STABLE');
      }
  }
  await Promise.all(run.background);
  return { actions, problems, keysMoved, done: problems.length === 0 };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
