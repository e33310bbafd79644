// npm run chaos: operations on the embedded platform under two ledger clients, with faults at
// moments a seeded PRNG picks. Each run's seed replays it: `--seed <s> --runs 1` with the same
// --scenario and --faults.
import { parseArgs } from 'node:util';
import { fastLoop } from '../test/helpers/autoscaling.js';
import { startE2E } from '../test/helpers/e2e.js';
import { FAULTS, faultNamed, TARGETED_FAULTS } from './faults.js';
import { OPERATIONS, operationNamed } from './operations.js';
import { matrixTable, summaryTable, runLine } from './report.js';
import { passed, runScenario, type RunResult } from './run.js';

const USAGE = `npm run chaos -- [--scenario op,op|all] [--faults f,f|all] [--seed n] [--runs n] [--duration s] [--matrix] [--json]
--matrix: every fault of the pool in turn for each operation, --runs times each (the seed picks target and moment)
operations: ${OPERATIONS.map((o) => o.name + (o.pending ? ' (pending)' : '')).join(', ')}
faults: ${FAULTS.map((f) => f.name).join(', ')}
named only (not in all): ${TARGETED_FAULTS.map((f) => f.name).join(', ')}`;

/** A recovery this slow (most take 2-35 s) is kept for a look, passed or not. */
const SLOW_RECOVERY_MS = 45_000;

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: "${value}" is not a whole number`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      faults: { type: 'string', default: 'all' },
      seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
      runs: { type: 'string', default: '1' },
      duration: { type: 'string', default: '20' },
      matrix: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return console.log(USAGE);
  const operations = values.scenario === 'all' ? OPERATIONS : values.scenario.split(',').map(operationNamed);
  const faults = values.faults === 'all' ? FAULTS : values.faults.split(',').map(faultNamed);
  const seed = positive('seed', values.seed);
  const runs = positive('runs', values.runs);
  const durationMs = positive('duration', values.duration) * 1000;
  const log = values.json ? console.error : console.log;
  for (const op of operations.filter((o) => o.pending)) log(`skipped ${op.name}: ${op.pending}`);
  const monitored = operations.filter((o) => o.monitoring && !o.pending);
  const chartValues = Object.assign({}, ...monitored.map((o) => o.monitoring)) as Record<string, unknown>;
  const e2e = await startE2E({ persist: true, ...(monitored.length > 0 ? fastLoop(chartValues) : {}) });
  const results: RunResult[] = [];
  try {
    // One pool per cell: the whole pool (the seed picks the fault), or with --matrix each fault alone.
    const pools = values.matrix ? faults.map((f) => [f]) : [faults];
    for (const operation of operations.filter((o) => !o.pending)) {
      for (const pool of pools) {
        for (let i = 0; i < runs; i++) {
          const result = await runScenario(e2e, results.length, { operation, faults: pool, seed: seed + results.length, durationMs });
          results.push(result);
          log(runLine(result));
        }
      }
    }
  } finally {
    // A failed or slow run is worth a look: the functions' logs and the Pods' data stay.
    const keep = results.some((r) => !passed(r) || r.recoveryMs > SLOW_RECOVERY_MS);
    await e2e.stop({ keep });
    if (keep) log(`kept the platform's state (function and Pod logs) in ${e2e.stateDir}`);
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else console.log(`\n${summaryTable(results)}${values.matrix ? `\n\n${matrixTable(results)}` : ''}`);
  process.exitCode = results.every(passed) ? 0 : 1;
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = 2;
});
