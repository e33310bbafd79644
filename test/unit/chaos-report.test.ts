// The chaos runner's pure parts: a seed replays the same choices, and the summary table adds runs
// up per operation and fault, naming the seeds of failing runs.
import { describe, expect, it } from 'vitest';
import { seeded } from '../../chaos/random.js';
import { matrixTable, summaryTable } from '../../chaos/report.js';
import type { LedgerCounts, RunResult } from '../../chaos/run.js';

const counts = (acknowledged: number, lost = 0, lostInWindow = 0, failures: Record<string, number> = {}): LedgerCounts => ({
  acknowledged,
  lost,
  lostInWindow,
  lostAckedAt: [],
  failures,
  wrongReads: 0,
});

function run(
  seed: number,
  recoveryMs: number,
  plain: LedgerCounts,
  waited = counts(100),
  violations: string[] = [],
  cell = { operation: 'scale-out', fault: 'kill-9-master' },
): RunResult {
  const injected = { fault: cell.fault, target: 'c0-0', at: 0 };
  return { ...cell, seed, injected, recoveryMs, plain, waited, violations };
}

describe('chaos runner', () => {
  it('replays the same choices from the same seed, and others from another', () => {
    const choices = (seed: number) => {
      const r = seeded(seed);
      return Array.from({ length: 20 }, () => [r.pick(['a', 'b', 'c', 'd']), r.int(0, 20_000)]);
    };
    expect(choices(42)).toEqual(choices(42));
    expect(choices(42)).not.toEqual(choices(43));
  });

  it('sums runs per operation and fault; losses in a crash window are shown apart; failing seeds named', () => {
    const table = summaryTable([
      run(1, 10_000, counts(1000)),
      run(2, 30_000, counts(1000, 0, 3, { CLUSTERDOWN: 2 })),
      run(3, 20_000, counts(1000, 1), counts(100), ['left behind after delete: Lease rediscluster-c2']),
    ]);
    const row = table.split('\n')[2];
    expect(row).toBe('| scale-out | kill-9-master | 3 | 3300 | 1 | 3 | 0 | 2 | 20.0 s | 30.0 s | 3 |');
  });

  it('lays the runs out as a grid: an operation per row, a fault per column, the median recovery or the failing seeds', () => {
    const scaleIn = (fault: string) => ({ operation: 'scale-in', fault });
    const grid = matrixTable([
      run(1, 10_000, counts(1000)),
      run(2, 4_000, counts(1000), counts(100), [], scaleIn('kill-9-master')),
      run(3, NaN, counts(1000), counts(100), ['not recovered: 5 masters, want 3'], scaleIn('delete-pod')),
      run(4, 6_000, counts(1000), counts(100), [], scaleIn('delete-pod')),
    ]).split('\n');
    expect(grid[0]).toBe('| operation | kill-9-master | delete-pod |');
    expect(grid[2]).toBe('| scale-out | 10.0 s |  |');
    expect(grid[3]).toBe('| scale-in | 4.0 s | **failed** (3), 6.0 s |');
  });
});
