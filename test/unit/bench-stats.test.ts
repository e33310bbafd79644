import { describe, expect, it } from 'vitest';
import { median, percentile } from '../../bench/lib/stats.js';

describe('benchmark figures', () => {
  it('nearest-rank percentiles of unsorted samples', () => {
    const xs = [9, 1, 5, 3, 7, 2, 8, 4, 6, 10];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 99)).toBe(10);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
    expect(xs[0]).toBe(9); // the samples are left as they were
  });
  it('medians of odd and even counts, NaN left out', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });
});
