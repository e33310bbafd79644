import { describe, expect, it } from 'vitest';
import { firstAnswer } from '../../functions/discovery/hedge.js';

const after = <T>(ms: number, value: T, fail = false) =>
  new Promise<T>((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

describe('firstAnswer', () => {
  it('a quick first candidate is the only one asked', async () => {
    const asked: string[] = [];
    const r = await firstAnswer(['a', 'b', 'c'], (c) => (asked.push(c), after(5, c.toUpperCase())), { hedgeMs: 200 });
    expect(r.answer).toEqual({ candidate: 'a', value: 'A' });
    expect(asked).toEqual(['a']);
    expect(r.failures).toEqual([]);
  });

  it('a failure moves on at once, and failures are reported in order', async () => {
    const started = Date.now();
    const r = await firstAnswer(['a', 'b', 'c'], (c) => (c === 'c' ? after(5, 'C') : after(5, `${c} refused`, true)), { hedgeMs: 10_000 });
    expect(r.answer).toEqual({ candidate: 'c', value: 'C' });
    expect(r.failures).toEqual([
      { candidate: 'a', error: 'a refused' },
      { candidate: 'b', error: 'b refused' },
    ]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a silent candidate costs hedgeMs, not its timeout', async () => {
    const started = Date.now();
    const r = await firstAnswer(['hung', 'ok'], (c) => (c === 'hung' ? after(5000, 'late') : after(5, 'ok')), { hedgeMs: 50 });
    expect(r.answer).toEqual({ candidate: 'ok', value: 'ok' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('all failing: no answer, every failure listed', async () => {
    const r = await firstAnswer([1, 2], (c) => after(5, `down ${c}`, true), { hedgeMs: 20 });
    expect(r.answer).toBeUndefined();
    expect(r.failures.map((f) => f.error).sort()).toEqual(['down 1', 'down 2']);
  });

  it('no candidates: no answer', async () => {
    expect(await firstAnswer([], () => after(1, 'x'), { hedgeMs: 10 })).toEqual({ failures: [] });
  });

  it('starts nothing after the deadline and reports those not tried', async () => {
    let clock = 0;
    const r = await firstAnswer(['a', 'b', 'c'], (c) => ((clock = 100), after(5, `${c} refused`, true)), {
      hedgeMs: 10_000,
      deadline: 50,
      now: () => clock,
    });
    expect(r.answer).toBeUndefined();
    expect(r.failures).toEqual([
      { candidate: 'a', error: 'a refused' },
      { candidate: 'b', error: 'not tried: time budget spent' },
      { candidate: 'c', error: 'not tried: time budget spent' },
    ]);
  });
});
