import { describe, expect, it } from 'vitest';
import { findCondition, isConditionTrue, setCondition, withCondition } from '../../shared/kube/conditions.js';

describe('setCondition', () => {
  const t1 = new Date('2026-01-01T00:00:00.000Z');
  const t2 = new Date('2026-01-01T00:05:00.000Z');

  it('adds a condition with the transition time', () => {
    const list = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'forming' }, t1);
    expect(list).toEqual([
      { type: 'Ready', status: 'False', reason: 'Creating', message: 'forming', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ]);
  });

  it('keeps the transition time while the status holds, and moves it when it flips', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating', message: 'forming' }, t1);
    const same = setCondition(first, { type: 'Ready', status: 'False', reason: 'Healing', message: 'other words' }, t2);
    expect(same[0]!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(same[0]!.reason).toBe('Healing');
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'ClusterOK', message: 'ok' }, t2);
    expect(flipped[0]!.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('leaves other conditions alone', () => {
    const list = setCondition(
      [{ type: 'Degraded', status: 'False', reason: 'OK', message: '', lastTransitionTime: 'x' }],
      { type: 'Ready', status: 'True', reason: 'ClusterOK', message: 'ok' },
      t1,
    );
    expect(list.map((c) => c.type)).toEqual(['Degraded', 'Ready']);
    expect(list[0]!.lastTransitionTime).toBe('x');
  });
});

describe('withCondition', () => {
  const c = (type: string, reason: string) => ({
    type,
    status: 'True' as const,
    reason,
    message: '',
    lastTransitionTime: '2026-01-01T00:00:00Z',
  });
  it('replaces the entry of its type in place, appends it when absent, drops it when given none', () => {
    const list = [c('Ready', 'a'), c('Resharding', 'Requested'), c('Degraded', 'b')];
    expect(withCondition(list, 'Resharding', c('Resharding', 'ScaleOut')).map((x) => `${x.type}:${x.reason}`)).toEqual([
      'Ready:a',
      'Resharding:ScaleOut',
      'Degraded:b',
    ]);
    expect(withCondition([c('Ready', 'a')], 'Resharding', c('Resharding', 'ScaleOut')).map((x) => x.type)).toEqual(['Ready', 'Resharding']);
    expect(withCondition(list, 'Resharding', undefined).map((x) => x.type)).toEqual(['Ready', 'Degraded']);
    expect(list).toHaveLength(3);
  });
});

describe('findCondition and isConditionTrue', () => {
  const list = [
    { type: 'PodScheduled', status: 'True', lastTransitionTime: null },
    { type: 'Ready', status: 'False', reason: 'ContainersNotReady' },
  ];
  it("find the entry of a type in any object's conditions, or none", () => {
    expect(findCondition(list, 'Ready')).toBe(list[1]);
    expect(findCondition(list, 'Initialized')).toBeUndefined();
    expect(findCondition(undefined, 'Ready')).toBeUndefined();
  });
  it('a condition is true only when it is there with status True', () => {
    expect(isConditionTrue(list, 'PodScheduled')).toBe(true);
    expect(isConditionTrue(list, 'Ready')).toBe(false);
    expect(isConditionTrue(list, 'Initialized')).toBe(false);
    expect(isConditionTrue(undefined, 'Ready')).toBe(false);
  });
});
