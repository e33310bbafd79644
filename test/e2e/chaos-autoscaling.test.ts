// The chaos runner's `autoscaling` operation with a fixed seed: extra load past the chart's
// throughput rule, real Prometheus and Alertmanager fire it, the alert reaches the scale function
// through the Broker and spec.masters grows 3 -> 4; the API server is restarted from its state file
// meanwhile. Seed 31 is the run that found the Broker resolving each Trigger's subscriber through
// the API server per event (the alert was dropped while it was down and the cluster never grew).
import { it } from 'vitest';
import { faultNamed } from '../../chaos/faults.js';
import { operationNamed } from '../../chaos/operations.js';
import { runLine } from '../../chaos/report.js';
import { runScenario } from '../../chaos/run.js';
import { fastLoop } from '../helpers/autoscaling.js';
import { expectNothingLost } from '../helpers/chaos.js';
import { useE2E } from '../helpers/e2e.js';

const e2e = useE2E({ persist: true, ...fastLoop() });

it('autoscaling from an alert while the API server restarts: grown to 4 masters, Ready, clean, nothing lost, no command failed', async () => {
  const r = await runScenario(e2e, 0, {
    operation: operationNamed('autoscaling'),
    faults: [faultNamed('apiserver-restarted')],
    seed: 31,
    durationMs: 5000,
  });
  console.log(runLine(r));
  expectNothingLost(r);
}, 420_000);
