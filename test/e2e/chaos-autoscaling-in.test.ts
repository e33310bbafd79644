// The chaos runner's `autoscaling-in` operation with a fixed seed: a 4x1 cluster holding little,
// autoscaling turned on, real Prometheus fires the chart's low-memory rule, real Alertmanager
// repeats it to the alert-bridge, the Broker routes it to the scale function, and spec.masters
// shrinks 4 -> 3: a master's slots drained under the two ledgers while a fault hits.
import { it } from 'vitest';
import { faultNamed } from '../../chaos/faults.js';
import { operationNamed } from '../../chaos/operations.js';
import { runLine } from '../../chaos/report.js';
import { runScenario } from '../../chaos/run.js';
import { fastLoop } from '../helpers/autoscaling.js';
import { expectNothingLost } from '../helpers/chaos.js';
import { useE2E } from '../helpers/e2e.js';

const operation = operationNamed('autoscaling-in');
const e2e = useE2E({ persist: true, ...fastLoop(operation.monitoring) });

it('autoscaling in from an alert with a function killed at work: shrunk to 3 masters, Ready, clean, nothing lost, no command failed', async () => {
  const r = await runScenario(e2e, 0, { operation, faults: [faultNamed('kill-function')], seed: 61, durationMs: 5000 });
  console.log(runLine(r));
  expectNothingLost(r);
}, 420_000);
