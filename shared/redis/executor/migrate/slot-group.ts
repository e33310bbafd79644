// Moving one group of slots of a (source, target) pair, as redis-cli's MoveSlot and
// MigrateKeysInSlot do for one slot: IMPORTING on the target, MIGRATING on the source, the keys in
// byte-sized MIGRATE batches until none is left on the source, then the target's replicas caught up.
// The hand-over itself is handover.ts's.
import { isConnectionError } from '../../connection.js';
import { classifyListing, classifyMigrateReply } from '../../planner/migrate-replies.js';
import type { Endpoint } from '../../types.js';
import { endpointOf, liveReplicasOf, nodeEndpoint } from '../../view.js';
import { MigrationError, pipe, throwOn, type Arg, type PairStats, type Run } from './context.js';
import { flushHandover, nodeCmds, sourceNodeTolerated, targetHandoverCmds, tellOthers, type Handover } from './handover.js';
import { errorMessage } from '../../../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** One group of slots being moved: where, and how many keys each MIGRATE carries. */
interface Group {
  sourceId: string;
  targetId: string;
  src: Endpoint;
  dst: Endpoint;
  stats: PairStats;
  perBatch: number;
}

/**
 * A node never updates the owner of a slot it is importing, so after the source failed over the
 * target still believes the dead master owns it (and reports CLUSTERDOWN): tell it.
 */
async function repointTarget(run: Run, g: Group, slots: number[]): Promise<void> {
  const view = await run.pool.readReport(g.dst).catch((err: unknown) => {
    throw new MigrationError(`target ${g.targetId}: ${errorMessage(err)}`, 'unreachable');
  });
  const stale = slots.filter((slot) => {
    const owner = view.nodes.find((n) => n.role === 'master' && n.slots.some((r) => r.start <= slot && slot <= r.end));
    return owner?.id !== g.sourceId && owner?.id !== g.targetId;
  });
  for (let attempt = 0; stale.length; attempt++) {
    const res = await pipe(
      run,
      g.dst,
      stale.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'NODE', g.sourceId]),
    );
    // The target may not yet know that the new primary was promoted: let gossip catch up.
    const lagging = (e: Error) => /not a master|know about node|Unknown node/i.test(e.message);
    if (attempt < 100 && res.some((r) => r instanceof Error && lagging(r))) {
      await sleep(100);
      continue;
    }
    throwOn(res, `SETSLOT NODE (re-open) on target ${g.targetId}`);
    break;
  }
}

/**
 * IMPORTING on the target first, so the source's ASK redirects land on a node that accepts them;
 * the previous group's hand-over rides in front. Returns the slots opened and those the target
 * already owns (only their hand-over remains).
 */
async function openOnTarget(
  run: Run,
  g: Group,
  slots: number[],
  carry: Handover | undefined,
): Promise<{ open: number[]; ownedByTarget: number[] }> {
  let open = [...slots];
  const ownedByTarget: number[] = [];
  let prefix = targetHandoverCmds(run, carry);
  for (let attempt = 0; ; attempt++) {
    const res = await pipe(run, g.dst, [
      ...prefix,
      ...open.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', g.sourceId]),
      ['CLUSTER', 'INFO'],
    ]);
    run.noteEpoch(g.targetId, res.pop());
    throwOn(res.slice(0, prefix.length), `SETSLOT NODE on target ${g.targetId}`);
    const imp = res.slice(prefix.length);
    prefix = [];
    const unknown = imp.some((r) => r instanceof Error && /know about node/i.test(r.message));
    imp.forEach((r, i) => {
      if (r instanceof Error && /already the owner/i.test(r.message)) ownedByTarget.push(open[i]!);
    });
    throwOn(imp, `SETSLOT IMPORTING on target ${g.targetId}`, (e) => /know about node|already the owner/i.test(e.message));
    open = open.filter((slot) => !ownedByTarget.includes(slot));
    if (!unknown) return { open, ownedByTarget };
    // The target has not yet learned the source through gossip.
    if (attempt > 100) throw new MigrationError(`target ${g.targetId} does not know source ${g.sourceId}`, 'refused');
    await sleep(50);
  }
}

/** MIGRATING on the source, with the first listing of keys in the same round trip; returns the listings. */
async function openOnSource(run: Run, g: Group, open: number[], carry: Handover | undefined): Promise<unknown[]> {
  let prefix = nodeCmds(carry);
  for (let attempt = 0; ; attempt++) {
    const cmds = [
      ...prefix,
      ...open.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', g.targetId]),
      ...open.map((slot) => ['CLUSTER', 'GETKEYSINSLOT', slot, g.perBatch]),
      ['CLUSTER', 'INFO'],
    ];
    const res = await pipe(run, g.src, cmds, 'control', true);
    run.noteEpoch(g.sourceId, res.pop());
    throwOn(res.slice(0, prefix.length), `SETSLOT NODE on source ${g.sourceId}`, sourceNodeTolerated);
    const mig = res.slice(prefix.length, prefix.length + open.length);
    const firstKeys = res.slice(prefix.length + open.length);
    prefix = [];
    const unknown = mig.some((r) => r instanceof Error && /know about node/i.test(r.message));
    throwOn(mig, `SETSLOT MIGRATING on source ${g.sourceId}`, (e) => /know about node/i.test(e.message));
    if (!unknown) return firstKeys;
    if (attempt > 100) throw new MigrationError(`source ${g.sourceId} does not know target ${g.targetId}`, 'refused');
    await sleep(50);
  }
}

type Work = { slot: number; keys: Buffer[] };

/** Size batches by bytes: sample a few keys, and shrink the batches when values are big. */
async function fitBatches(run: Run, g: Group, work: Work[]): Promise<void> {
  if (!work.length || (g.stats.avgKeyBytes !== undefined && g.stats.groups % 16 !== 0)) return;
  const sample = work[0]!.keys.slice(0, 3);
  const sizes = await pipe(
    run,
    g.src,
    sample.map((k) => ['MEMORY', 'USAGE', k]),
  );
  const known = sizes.filter((x): x is number => typeof x === 'number');
  if (known.length) g.stats.avgKeyBytes = known.reduce((a, b) => a + b, 0) / known.length;
  const fit = Math.max(1, Math.min(run.s.maxKeysPerBatch, Math.floor(run.s.batchBytes / (g.stats.avgKeyBytes ?? 1))));
  if (fit < g.perBatch) {
    g.perBatch = fit;
    for (const w of work) if (w.keys.length > g.perBatch) w.keys = w.keys.slice(0, g.perBatch);
  }
}

function migrateArgs(run: Run, target: Endpoint, keys: Buffer[], replace: boolean): Arg[] {
  const args: Arg[] = ['MIGRATE', target.ip, target.port, '', 0, run.s.migrateTimeoutMs];
  if (replace) args.push('REPLACE');
  // The source logs in to the target as this pool does there.
  const login = run.pool.credentialsFor(target);
  if (login?.username) args.push('AUTH2', login.username, login.password);
  else if (login) args.push('AUTH', login.password);
  args.push('KEYS', ...keys);
  return args;
}

/** What one MIGRATE round trip left: keys moved, slots with more keys, and why to pause. */
interface Round {
  moved: number;
  next: Work[];
  relist: number[];
  targetSilent?: Error;
  clusterDown?: Error;
}

/**
 * One round trip: a MIGRATE batch per slot and, in the same pipeline, the slot's next batch
 * (GETKEYSINSLOT) or, when the batch held all the keys listed, its count (COUNTKEYSINSLOT).
 * `replace` holds the slots whose next batch goes with REPLACE.
 */
async function migrateRound(run: Run, g: Group, work: Work[], replace: Set<number>): Promise<Round> {
  const cmds: Arg[][] = [];
  for (const w of work) {
    cmds.push(migrateArgs(run, g.dst, w.keys, replace.has(w.slot)));
    cmds.push(w.keys.length < g.perBatch ? ['CLUSTER', 'COUNTKEYSINSLOT', w.slot] : ['CLUSTER', 'GETKEYSINSLOT', w.slot, g.perBatch]);
  }
  const res = await pipe(run, g.src, cmds, 'bulk', true);
  const round: Round = { moved: 0, next: [], relist: [] };
  work.forEach((w, i) => {
    const reply = res[2 * i];
    const kind = classifyMigrateReply(reply);
    // The keys the target refused with BUSYKEY are the ones still listed on the source.
    if (kind === 'busy-key') replace.add(w.slot);
    else if (kind === 'target-silent') round.targetSilent = reply as Error;
    else if (kind === 'cluster-down') round.clusterDown = reply as Error;
    else if (kind === 'refused')
      throw new MigrationError(`MIGRATE slot ${w.slot} from ${g.sourceId} to ${g.targetId}: ${(reply as Error).message}`, 'refused');
    else {
      if (kind === 'moved') round.moved += w.keys.length;
      if (replace.delete(w.slot)) for (const k of w.keys) if (run.replacedKeys.length < 10_000) run.replacedKeys.push(k.toString());
    }
    const listing = classifyListing(res[2 * i + 1]);
    if (listing.kind === 'failed') {
      throw new MigrationError(
        `listing slot ${w.slot} on ${g.sourceId}: ${listing.error.message}`,
        isConnectionError(listing.error) ? 'unreachable' : 'refused',
      );
    }
    if (listing.kind === 'relist') round.relist.push(w.slot);
    else if (listing.kind === 'keys') round.next.push({ slot: w.slot, keys: listing.keys });
  });
  return round;
}

/** The target did not answer MIGRATE: a retry is worth it only while it is still a reachable master. */
async function checkTargetAfterIoError(run: Run, g: Group, err: Error, ioErrors: number): Promise<void> {
  if (ioErrors > 5) throw new MigrationError(`MIGRATE to ${g.targetId} keeps failing: ${err.message}`, 'unreachable');
  try {
    const rep = await run.pool.readReport(g.dst);
    if (rep.myId !== g.targetId || rep.nodes.find((n) => n.flags.includes('myself'))?.role !== 'master')
      throw new Error(`${g.targetId} is no longer the master at ${g.dst.ip}:${g.dst.port}`);
  } catch (err2) {
    throw new MigrationError(`target ${g.targetId} after IOERR: ${errorMessage(err2)}`, 'unreachable');
  }
  await sleep(100 * ioErrors);
}

/**
 * Moves every key of the open slots. A slot is finished only on a zero count or an empty listing
 * taken while the source was already MIGRATING: from then on no key can be born on the source.
 */
async function moveKeys(run: Run, g: Group, open: number[], firstKeys: unknown[]): Promise<number> {
  let work: Work[] = [];
  open.forEach((slot, i) => {
    const keys = firstKeys[i] as Buffer[];
    if (keys.length) work.push({ slot, keys });
  });
  await fitBatches(run, g, work);
  let relist: number[] = [];
  const replace = new Set<number>();
  let moved = 0;
  let ioErrors = 0;
  let downSince: number | undefined;
  while (work.length || relist.length) {
    if (relist.length) {
      const listed = await pipe(
        run,
        g.src,
        relist.map((slot) => ['CLUSTER', 'GETKEYSINSLOT', slot, g.perBatch]),
        'control',
        true,
      );
      throwOn(listed, `GETKEYSINSLOT on source ${g.sourceId}`);
      relist.forEach((slot, i) => {
        const keys = listed[i] as Buffer[];
        if (keys.length) work.push({ slot, keys });
      });
      if (!work.length) break;
    }
    const round = await migrateRound(run, g, work, replace);
    moved += round.moved;
    relist = round.relist;
    if (round.targetSilent) await checkTargetAfterIoError(run, g, round.targetSilent, ++ioErrors);
    if (round.clusterDown) {
      // The target refuses while the cluster is down (e.g. a failover elsewhere): wait, bounded.
      downSince ??= Date.now();
      if (Date.now() - downSince > run.s.clusterDownWaitMs)
        throw new MigrationError(`MIGRATE to ${g.targetId}: ${round.clusterDown.message}`, 'refused');
      await sleep(200);
    } else downSince = undefined;
    if (run.s.onBatch) await run.s.onBatch({ sourceId: g.sourceId, targetId: g.targetId, slots: [...open], keysMoved: moved });
    work = round.next;
  }
  return moved;
}

/** Waits (bounded) until the target's online replicas have its replication offset. */
async function waitTargetReplicas(run: Run, targetId: string): Promise<void> {
  const replicas = liveReplicasOf(run.view, targetId);
  if (replicas.length === 0) return;
  const target = nodeEndpoint(run.view, targetId);
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
 * Moves every key of `slots` from source to target. The previous group's hand-over (`carry`) is
 * sent first in the same round trips. Returns the keys moved and this group's hand-over, which the
 * caller sends with the next group or flushes. Safe to call on slots already open (they are
 * re-opened against the given nodes) or already owned by the target (only the hand-over remains).
 */
export async function moveSlotGroup(
  run: Run,
  sourceId: string,
  targetId: string,
  slots: number[],
  stats: PairStats,
  carry?: Handover,
  reopen = false,
): Promise<{ moved: number; handover: Handover }> {
  const src = nodeEndpoint(run.view, sourceId);
  const dst = nodeEndpoint(run.view, targetId);
  if (carry && (carry.sourceId !== sourceId || carry.targetId !== targetId)) {
    await flushHandover(run, carry);
    carry = undefined;
  }
  const s = run.s;
  const perBatch = stats.avgKeyBytes
    ? Math.max(1, Math.min(s.maxKeysPerBatch, Math.floor(s.batchBytes / stats.avgKeyBytes)))
    : s.maxKeysPerBatch;
  const g: Group = { sourceId, targetId, src, dst, stats, perBatch };
  if (reopen) await repointTarget(run, g, slots);
  const { open, ownedByTarget } = await openOnTarget(run, g, slots, carry);
  const firstKeys = await openOnSource(run, g, open, carry);
  if (carry) tellOthers(run, carry);
  throwOn(firstKeys, `GETKEYSINSLOT on source ${sourceId}`);
  const moved = await moveKeys(run, g, open, firstKeys);
  stats.groups++;
  if (open.length) stats.keysPerSlot = moved / open.length;
  // Durability: the source has deleted what the target acknowledged; let the target's replicas
  // have it too before the slots change hands.
  if (moved > 0) await waitTargetReplicas(run, targetId);
  return { moved, handover: { sourceId, targetId, slots: [...open, ...ownedByTarget] } };
}
