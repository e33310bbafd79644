// Handing a group of slots over once its keys are on the target: SETSLOT NODE on the target, then
// the source, then (in the background) the other masters, with one epoch bump per group when safe.
import { isConnectionError } from '../../connection.js';
import { endpointOf, liveMasters, nodeEndpoint } from '../../view.js';
import { pipe, throwOn, type Run } from './context.js';

/**
 * The hand-over of a group whose keys are all on the target, not yet sent: it rides on the next
 * group's first round trips (target first, then source), or is flushed on its own.
 */
export interface Handover {
  sourceId: string;
  targetId: string;
  slots: number[];
}

export const nodeCmds = (h: Handover | undefined) => (h ? h.slots.map((slot) => ['CLUSTER', 'SETSLOT', slot, 'NODE', h.targetId]) : []);

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
export function targetHandoverCmds(run: Run, h: Handover | undefined): (string | number)[][] {
  if (!h) return [];
  const targetEpoch = run.epochs.get(h.targetId);
  const sourceEpoch = run.epochs.get(h.sourceId);
  const grouped =
    run.s.groupedHandover &&
    h.slots.length > 1 &&
    !run.epochCollision &&
    targetEpoch !== undefined &&
    sourceEpoch !== undefined &&
    targetEpoch > sourceEpoch;
  if (!grouped) return nodeCmds(h);
  const rest = h.slots.slice(0, -1);
  const last = h.slots[h.slots.length - 1]!;
  return [
    ...rest.flatMap((slot) => [
      ['CLUSTER', 'SETSLOT', slot, 'STABLE'],
      ['CLUSTER', 'SETSLOT', slot, 'NODE', h.targetId],
    ]),
    ['CLUSTER', 'SETSLOT', last, 'NODE', h.targetId],
  ];
}

// A source that gave away its last slot may already be a replica of the target (replica migration).
export const sourceNodeTolerated = (e: Error) => /only with masters|Unknown node|LOADING/i.test(e.message) || isConnectionError(e);

/** SETSLOT NODE on the other masters: only speeds up convergence (gossip does the same). */
export function tellOthers(run: Run, h: Handover): void {
  for (const m of liveMasters(run.view)) {
    if (m.id === h.sourceId || m.id === h.targetId) continue;
    const p = run.pool.pipeline(endpointOf(m), nodeCmds(h)).catch(() => undefined);
    run.background.add(p);
    void p.finally(() => run.background.delete(p));
  }
}

/** Sends a pending hand-over on its own: target, then source, then the others. */
export async function flushHandover(run: Run, h: Handover | undefined): Promise<void> {
  if (!h || h.slots.length === 0) return;
  const res = await pipe(run, nodeEndpoint(run.view, h.targetId), [...targetHandoverCmds(run, h), ['CLUSTER', 'INFO']]);
  run.noteEpoch(h.targetId, res.pop());
  throwOn(res, `SETSLOT NODE on target ${h.targetId}`);
  throwOn(await pipe(run, nodeEndpoint(run.view, h.sourceId), nodeCmds(h)), `SETSLOT NODE on source ${h.sourceId}`, sourceNodeTolerated);
  tellOthers(run, h);
}
