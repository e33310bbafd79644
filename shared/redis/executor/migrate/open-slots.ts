// Rolling forward slots left open by a crashed executor or a failover, as planner/open-slots.ts
// decides (redis-cli's FixOpenSlot, never closing an importing node that holds keys).
import type { RedisPool } from '../../connection.js';
import { decideOpenSlot, openSlotFlags, supersededImports, type OpenSlotDecision, type SlotFlags } from '../../planner/open-slots.js';
import { slotsToRanges } from '../../topology.js';
import type { ClusterProblem, EngineAction, Endpoint } from '../../types.js';
import { nodeEndpoint, readView, type ClusterView } from '../../view.js';
import { Run, settingsOf, type MigrateOptions, type PairStats } from './context.js';
import { flushHandover } from './handover.js';
import { moveSlotGroup } from './slot-group.js';
import { errorMessage } from '../../../errors.js';

export interface ResumeResult {
  actions: EngineAction[];
  problems: ClusterProblem[];
  keysMoved: number;
  done: boolean;
}

async function countKeys(pool: RedisPool, view: ClusterView, nodeId: string, slot: number): Promise<number> {
  return Number(await pool.call(nodeEndpoint(view, nodeId), 'CLUSTER', 'COUNTKEYSINSLOT', slot));
}

/** Decides for one slot, counting keys on the other masters when the flags alone do not tell. */
async function decide(pool: RedisPool, view: ClusterView, slot: number, flags: SlotFlags): Promise<OpenSlotDecision> {
  const first = decideOpenSlot(view, slot, flags);
  if (first.kind !== 'count-keys') return first;
  const holders: string[] = [];
  for (const id of first.nodeIds) if ((await countKeys(pool, view, id, slot)) > 0) holders.push(id);
  return decideOpenSlot(view, slot, flags, holders);
}

/** Nothing was moved anywhere: the owner holds every key, so closing its flag loses nothing. */
async function closeSlot(
  pool: RedisPool,
  view: ClusterView,
  d: Extract<OpenSlotDecision, { kind: 'close' }>,
): Promise<{ action: EngineAction; problems: ClusterProblem[] }> {
  const problems: ClusterProblem[] = [];
  for (const id of d.migrating) await pool.call(nodeEndpoint(view, id), 'CLUSTER', 'SETSLOT', d.slot, 'STABLE');
  for (const id of d.importing) {
    const n = await countKeys(pool, view, id, d.slot);
    if (n === 0) await pool.call(nodeEndpoint(view, id), 'CLUSTER', 'SETSLOT', d.slot, 'STABLE');
    else
      problems.push({
        code: 'open-slot',
        message: `slot ${d.slot}: ${id} is importing and holds ${n} keys; not closed`,
        slot: d.slot,
        nodeId: id,
      });
  }
  const action: EngineAction = {
    kind: 'slot-resumed',
    message: `slot ${d.slot} closed on its owner ${d.ownerId}: no key had moved`,
    slots: [{ start: d.slot, end: d.slot }],
    nodeId: d.ownerId,
  };
  return { action, problems };
}

/** Rolls one (owner, target) group of open slots forward, a slot group at a time. */
async function rollForward(run: Run, sourceId: string, targetId: string, slots: number[], out: ResumeResult): Promise<void> {
  const stats: PairStats = { groups: 0, keysPerSlot: 0 };
  try {
    for (let i = 0; i < slots.length; i += run.s.slotsPerGroup) {
      const group = slots.slice(i, i + run.s.slotsPerGroup);
      const { moved, handover } = await moveSlotGroup(run, sourceId, targetId, group, stats, undefined, true);
      await flushHandover(run, handover);
      out.keysMoved += moved;
      out.actions.push({
        kind: 'slot-resumed',
        message: `${group.length} open slots rolled forward from ${sourceId} to ${targetId} (${moved} keys)`,
        slots: slotsToRanges(group),
        nodeId: targetId,
        keys: moved,
      });
    }
  } catch (err) {
    out.problems.push({
      code: 'open-slot',
      message: `resuming slots ${slots.join(',')} from ${sourceId} to ${targetId}: ${errorMessage(err)}`,
    });
  }
}

/** Importing flags left with no keys on masters that are not the owner (a superseded target). */
async function closeSuperseded(pool: RedisPool, endpoints: Endpoint[], rolledForward: Set<string>): Promise<void> {
  const after = await readView(pool, endpoints, { discover: true });
  for (const { nodeId, slot } of supersededImports(after, rolledForward)) {
    if ((await countKeys(pool, after, nodeId, slot)) === 0)
      await pool.call(nodeEndpoint(after, nodeId), 'CLUSTER', 'SETSLOT', slot, 'STABLE');
  }
}

/**
 * Finds slots left open (`[s->-id]` / `[s-<-id]`) by a crashed executor or a failover and rolls
 * them forward to the target: redis-cli fix's case 1, re-opened on the new primary when a side
 * failed over. An importing node that holds keys is never set STABLE.
 */
export async function resumeOpenSlots(pool: RedisPool, endpoints: Endpoint[], opts: MigrateOptions = {}): Promise<ResumeResult> {
  const out: ResumeResult = { actions: [], problems: [], keysMoved: 0, done: false };
  const run = new Run(pool, endpoints, settingsOf(opts), await readView(pool, endpoints, { discover: true }));
  const view = run.view;
  const open = openSlotFlags(view);
  // Slots with the same owner and target are resumed together, like the executor would move them.
  const groups = new Map<string, number[]>();
  for (const [slot, flags] of open) {
    const d = await decide(pool, view, slot, flags);
    if (d.kind === 'leave') out.problems.push({ code: 'open-slot', message: d.reason, slot, ...(d.nodeId ? { nodeId: d.nodeId } : {}) });
    else if (d.kind === 'close') {
      const closed = await closeSlot(pool, view, d);
      out.problems.push(...closed.problems);
      out.actions.push(closed.action);
    } else if (d.kind === 'roll-forward') {
      const key = `${d.ownerId}>${d.targetId}`;
      groups.set(key, [...(groups.get(key) ?? []), slot]);
    }
  }
  for (const [key, slots] of groups) {
    const [sourceId, targetId] = key.split('>') as [string, string];
    await rollForward(run, sourceId, targetId, slots, out);
  }
  if (open.size) await closeSuperseded(pool, endpoints, new Set(groups.keys()));
  await Promise.all(run.background);
  return { ...out, done: out.problems.length === 0 };
}
