// The chaos runner's own code with fixed seeds, a few short runs: an operation under two ledger
// clients, a fault at a moment the seed picks, then the invariants (Ready, `redis-cli --cluster
// check` clean, nothing open or failed, nothing left after delete) and the data counts.
import { describe, expect, it } from 'vitest';
import { faultNamed } from '../../chaos/faults.js';
import { operationNamed } from '../../chaos/operations.js';
import { runLine } from '../../chaos/report.js';
import { runScenario, type RunResult } from '../../chaos/run.js';
import { expectNothingLost } from '../helpers/chaos.js';
import { useE2E } from '../helpers/e2e.js';

// Persisted, as a real API server's etcd is: the API-server restart keeps every object.
const e2e = useE2E({ persist: true });
let index = 0;

async function chaos(operation: string, fault: string, seed: number): Promise<RunResult> {
  const result = await runScenario(e2e, index++, {
    operation: operationNamed(operation),
    faults: [faultNamed(fault)],
    seed,
    durationMs: 5000,
  });
  console.log(runLine(result));
  return result;
}

describe('chaos: seeded runs', () => {
  it('rolling update while a function is killed mid-step: Ready, clean, nothing lost, no command failed', async () => {
    expectNothingLost(await chaos('rolling-update', 'kill-function', 11));
  }, 420_000);

  it('scale-out while a master is killed: Ready, clean; only writes in its replication window may be lost, none with WAIT 1', async () => {
    const r = await chaos('scale-out', 'kill-9-master', 3);
    expect(r.violations).toEqual([]);
    expect(r.plain.acknowledged).toBeGreaterThan(200);
    expect(r.plain.lost).toBe(0);
    expect(r.waited.lost + r.waited.lostInWindow).toBe(0);
    expect(r.plain.wrongReads + r.waited.wrongReads).toBe(0);
  }, 420_000);

  it("a rolling update that loses a master's machine as its shard's replica restarts: the shard's surge replica takes over, none lost with WAIT 1", async () => {
    const r = await chaos('rolling-update', 'master-lost-in-roll', 21);
    expect(r.injected.target).toMatch(/master of shard \d+, as \S+ restarted/);
    expect(r.violations).toEqual([]);
    expect(r.plain.lost).toBe(0);
    expect(r.waited.lost + r.waited.lostInWindow).toBe(0);
    expect(r.plain.wrongReads + r.waited.wrongReads).toBe(0);
  }, 420_000);

  it('a whole machine lost on a persistent cluster: Ready, clean, nothing lost', async () => {
    expectNothingLost(await chaos('steady-persistent', 'machine-lost', 7));
  }, 420_000);

  it('scale-in while the API server restarts from its state file: Ready, clean, nothing lost, no command failed', async () => {
    expectNothingLost(await chaos('scale-in', 'apiserver-restarted', 5));
  }, 420_000);

  it('password rotation while a function is killed mid-step: the writers keep their old login, nothing lost, no command failed', async () => {
    expectNothingLost(await chaos('password-rotation', 'kill-function', 13));
  }, 420_000);

  it('certificate rotation while a replica is killed: every node serves the new certificate, nothing lost, no command failed', async () => {
    expectNothingLost(await chaos('certificate-rotation', 'kill-9-replica', 17));
  }, 420_000);
});
