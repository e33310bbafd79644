// The reshard's small decisions around a chunk: what it is called, how its counts move, and when a
// finished reshard's record stays.
import { describe, expect, it } from 'vitest';
import {
  describeIntent,
  keepsRecord,
  operationReason,
  planReshard,
  progressAfter,
  reshardMode,
  shownProgress,
} from '../../functions/reshard/plan.js';
import { splitSlots } from '../../shared/redis/planner/create.js';
import type { SlotRange } from '../../shared/redis/types.js';

function balanced(ids: string[]): Map<string, SlotRange[]> {
  const ranges = splitSlots(ids.length);
  return new Map(ids.map((id, i) => [id, [ranges[i]!]]));
}

describe('reshard intent words', () => {
  it('a drain is a scale-in named by its victims', () => {
    const intent = planReshard(
      balanced(['a', 'b', 'c']),
      2,
      new Map([
        ['a', 9],
        ['b', 1],
        ['c', 9],
      ]),
    );
    expect(operationReason(intent)).toBe('ScaleIn');
    expect(reshardMode(intent)).toBe('scale-in');
    expect(describeIntent(intent)).toBe('draining b over the other masters');
  });

  it('filling empty masters is a scale-out named by its receivers', () => {
    const masters = balanced(['a', 'b']);
    masters.set('c', []);
    const intent = planReshard(masters, 3);
    expect(operationReason(intent)).toBe('ScaleOut');
    expect(reshardMode(intent)).toBe('scale-out');
    expect(describeIntent(intent)).toBe('filling new masters c');
  });

  it('anything else evens out the slots', () => {
    const intent = planReshard(
      new Map([
        ['a', [{ start: 0, end: 10000 }]],
        ['b', [{ start: 10001, end: 16383 }]],
      ]),
      2,
    );
    expect(operationReason(intent)).toBe('Rebalance');
    expect(reshardMode(intent)).toBe('rebalance');
    expect(describeIntent(intent)).toBe('evening out the slots');
  });
});

describe('progressAfter', () => {
  const progress = { slotsTotal: 1000, slotsDone: 200, keysMoved: 0, startedAt: '2026-01-01T00:00:00Z' };

  it('takes what is left from the fresh plan when there is one', () => {
    expect(progressAfter(progress, 800, 300, 500)).toEqual({ slotsTotal: 1000, slotsDone: 500 });
  });

  it('without a fresh plan, what is left is what was planned less what moved', () => {
    expect(progressAfter(progress, 800, 300, undefined)).toEqual({ slotsTotal: 1000, slotsDone: 500 });
    expect(progressAfter(progress, 800, 900, undefined)).toEqual({ slotsTotal: 1100, slotsDone: 1100 });
  });

  it('grows the total when the work grew meanwhile, never shrinks it', () => {
    expect(progressAfter(progress, 800, 100, 1500)).toEqual({ slotsTotal: 1800, slotsDone: 300 });
    expect(progressAfter(progress, 800, 100, 10)).toEqual({ slotsTotal: 1000, slotsDone: 990 });
  });
});

describe('keepsRecord', () => {
  it("keeps a finished reshard's record only when there is nothing to move", () => {
    expect(keepsRecord({ state: 'Completed' }, 0)).toBe(true);
    expect(keepsRecord({ state: 'Completed' }, 5)).toBe(false);
    expect(keepsRecord({ state: 'Running' }, 0)).toBe(false);
    expect(keepsRecord(undefined, 0)).toBe(false);
  });
});

describe('shownProgress', () => {
  it('shows the RESHARD column only for a write that carries both counts', () => {
    expect(shownProgress({ slotsDone: 3031, slotsTotal: 8192 })).toEqual({ progress: '36% (3031/8192 slots)' });
    expect(shownProgress({ state: 'Completed', slotsDone: 8192, slotsTotal: 8192 })).toEqual({ progress: 'done (8192 slots)' });
    expect(shownProgress({ slotsDone: 10 })).toEqual({});
    expect(shownProgress({ message: 'waiting' })).toEqual({});
  });
});
