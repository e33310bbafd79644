// What a chaos run under a planned operation must show, whatever the fault.
import { expect } from 'vitest';
import type { RunResult } from '../../chaos/run.js';

/** Planned operations lose no acknowledged write, and every command succeeds after its retries. */
export function expectNothingLost(r: RunResult): void {
  expect(r.violations).toEqual([]);
  // Writes went on through the run (50/s each, for 5 s at least).
  expect(r.plain.acknowledged).toBeGreaterThan(200);
  expect(r.waited.acknowledged).toBeGreaterThan(100);
  expect(r.plain.lost + r.plain.lostInWindow).toBe(0);
  expect(r.waited.lost + r.waited.lostInWindow).toBe(0);
  expect(r.plain.wrongReads + r.waited.wrongReads).toBe(0);
  expect(r.plain.failures).toEqual({});
}
