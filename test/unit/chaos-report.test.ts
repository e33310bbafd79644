// The chaos runner's pure parts: a seed replays the same choices, and the summary table adds runs
// up per operation and fault, naming the seeds of failing runs.
import { describe, expect, it } from 'vitest';
import { seeded } from '../../chaos/random.js';
import { summaryTable } from '../../chaos/report.js';
import type { LedgerCounts, RunResult } from '../../chaos/run.js';

const counts = (acknowledged: number, lost = 0, lostInWindow = 0, failures: Record<string, number> = {}): LedgerCounts => ({
  acknowledged,
  lost,
  lostInWindow,
  lostAckedAt: [],
  failures,
  wrongReads: 0,
});

function run(seed: number, recoveryMs: number, plain: LedgerCounts, waited = counts(100), violations: string[] = []): RunResult {
  const injected = { fault: 'kill-9-master', target: 'c0-0', at: 0 };
  return { operation: 'scale-out', fault: 'kill-9-master', seed, injected, recoveryMs, plain, waited, violations };
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
});
