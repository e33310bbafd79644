import { describe, expect, it } from 'vitest';
import { planReshard, progressOf, progressText, statusMoves } from '../../functions/reshard/plan.js';
import { splitSlots } from '../../shared/redis/planner/create.js';
import { applyMoves, planChunk } from '../../shared/redis/planner/reshard.js';
import { countSlots } from '../../shared/redis/topology.js';
import type { SlotRange } from '../../shared/redis/types.js';

function balanced(ids: string[]): Map<string, SlotRange[]> {
  const ranges = splitSlots(ids.length);
  return new Map(ids.map((id, i) => [id, [ranges[i]!]]));
}

const sizes = (owners: Map<string, SlotRange[]>) => new Map([...owners].map(([id, r]) => [id, countSlots(r)]));

describe('reshard plan', () => {
  it('scale-out fills the empty masters from the full ones, to a balance within one slot', () => {
    const masters = balanced(['a', 'b', 'c']);
    masters.set('d', []);
    masters.set('e', []);
    const intent = planReshard(masters, 4);
    expect(intent.operation).toBe('Rebalance');
    expect(intent.receivers).toEqual(['d']);
    expect(intent.slots).toBe(4096);
    const after = sizes(applyMoves(new Map([...masters].filter(([id]) => id !== 'e')), intent.plan.moves));
    expect(Math.max(...after.values()) - Math.min(...after.values())).toBeLessThanOrEqual(1);
    expect(intent.plan.moves.every((m) => m.targetId === 'd')).toBe(true);
  });

  it('scale-in drains the master with the fewest keys, and keeps choosing it as it empties', () => {
    const masters = balanced(['a', 'b', 'c', 'd']);
    const keys = new Map([
      ['a', 500],
      ['b', 100],
      ['c', 900],
      ['d', 400],
    ]);
    const intent = planReshard(masters, 3, keys);
    expect(intent.operation).toBe('Drain');
    expect(intent.victims).toEqual(['b']);
    expect(intent.slots).toBe(4096);
    expect(new Set(intent.plan.moves.map((m) => m.targetId))).toEqual(new Set(['a', 'c', 'd']));

    // Half of it done (a chunk), then planned again from live ownership: same victim, the rest.
    const chunk = planChunk(intent.plan, 2000);
    const partly = applyMoves(masters, chunk.moves);
    const again = planReshard(
      partly,
      3,
      new Map([
        ['a', 800],
        ['b', 50],
        ['c', 1200],
        ['d', 700],
      ]),
    );
    expect(again.victims).toEqual(['b']);
    expect(again.slots).toBe(4096 - 2000);
    const done = sizes(applyMoves(partly, again.plan.moves));
    expect(done.get('b')).toBe(0);
    expect(
      Math.max(done.get('a')!, done.get('c')!, done.get('d')!) - Math.min(done.get('a')!, done.get('c')!, done.get('d')!),
    ).toBeLessThanOrEqual(1);
  });

  it('a drained master left behind does not count as a slot owner, and a balanced cluster has nothing to move', () => {
    const masters = balanced(['a', 'b', 'c']);
    expect(planReshard(masters, 3).slots).toBe(0);
    masters.set('old', []);
    const intent = planReshard(masters, 3);
    expect(intent.slots).toBe(0);
    expect(intent.receivers).toEqual([]);
  });

  it('refuses nonsense', () => {
    expect(() => planReshard(balanced(['a', 'b', 'c']), 0)).toThrow(/desiredMasters/);
    expect(() => planReshard(new Map([['a', []]]), 3)).toThrow(/not formed/);
  });

  it('shows moves as slot range strings', () => {
    expect(
      statusMoves([
        {
          sourceId: 'a',
          targetId: 'b',
          slots: [
            { start: 1, end: 5 },
            { start: 9, end: 9 },
          ],
        },
      ]),
    ).toEqual([{ source: 'a', target: 'b', slots: ['1-5', '9'] }]);
  });
});

describe('reshard progress', () => {
  const now = new Date('2026-11-24T12:00:00Z');
  it('starts from zero for a new reshard', () => {
    expect(progressOf(undefined, 4096, now)).toEqual({ slotsTotal: 4096, slotsDone: 0, keysMoved: 0, startedAt: '2026-11-24T12:00:00Z' });
    expect(progressOf({ state: 'Completed', slotsTotal: 10, slotsDone: 10, keysMoved: 5 }, 100, now).slotsTotal).toBe(100);
  });
  it('carries a running reshard on, and grows the total when the work grew', () => {
    const prev = { state: 'Running' as const, slotsTotal: 4096, slotsDone: 1000, keysMoved: 7000, startedAt: '2026-11-24T11:00:00Z' };
    expect(progressOf(prev, 3096, now)).toEqual({ slotsTotal: 4096, slotsDone: 1000, keysMoved: 7000, startedAt: '2026-11-24T11:00:00Z' });
    expect(progressOf(prev, 2000, now).slotsDone).toBe(2096);
    expect(progressOf(prev, 5000, now)).toMatchObject({ slotsTotal: 6000, slotsDone: 1000 });
  });
});

describe('the RESHARD column', () => {
  it('shows the share of slots moved while running and the total once completed', () => {
    expect(progressText(3031, 8192, 'Running')).toBe('36% (3031/8192 slots)');
    expect(progressText(0, 4096)).toBe('0% (0/4096 slots)');
    expect(progressText(4096, 4096, 'Completed')).toBe('done (4096 slots)');
    expect(progressText(0, 0, 'Running')).toBe('100% (0/0 slots)');
  });
});
