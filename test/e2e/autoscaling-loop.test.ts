// The reference's autoscaling loop, live, with nothing hand-built: a ledger client writes at a
// fixed rate into a 3x1 cluster; real redis_exporter sidecars are scraped by real Prometheus
// (found through the platform's API server), the chart's per-master throughput rule fires, real
// Alertmanager delivers it to the alert-bridge, and the masters grow a step at a time: once, again
// after the cooldown while the load stays, and never past the bound. The load stops: the masters
// shrink to the lower bound. Every write Redis acknowledged reads back with its value. Intervals
// are short through the chart's values; the product's defaults are the reference's.
import { describe, expect, it } from 'vitest';
import { applyCluster, clusterClient, eventually, statusNodes, useE2E, waitForReady } from '../helpers/e2e.js';
import { missingWrites, startLedger } from '../helpers/ledger.js';
import { clusterEventReasons, fastLoop, routeValue, specMasters } from '../helpers/autoscaling.js';

const NS = 'cache';
const NAME = 'loop';
const COOLDOWN_S = 20;
/** Writes/s: per master 667 with 3, 500 with 4, 400 with 5, all above the threshold of 300. */
const RATE = 2000;

const e2e = useE2E({ namespaces: [NS], ...fastLoop({ [routeValue('repeatInterval')]: '6s' }) });

const masters = (): Promise<number> => specMasters(e2e, NS, NAME);
const eventReasons = (): Promise<string[]> => clusterEventReasons(e2e, NS, NAME);

/** When each part of the loop happened, from what Prometheus, Alertmanager and the API server report. */
async function loopPhases(t0: number): Promise<[string, number][]> {
  const { prometheus, alertmanager } = e2e.platform.urls;
  const rules = (await (await fetch(`${prometheus}/api/v1/alerts`)).json()) as {
    data: { alerts: { labels: Record<string, string>; activeAt: string }[] };
  };
  const pending = rules.data.alerts.find((a) => a.labels.alertname === 'HighThroughput' && a.labels.redis_cluster === NAME);
  const am = (await (await fetch(`${alertmanager}/api/v2/alerts?filter=alertname%3D%22HighThroughput%22`)).json()) as {
    updatedAt: string;
    startsAt: string;
  }[];
  const { items } = await e2e.platform.kube.list('v1', 'Event', NS);
  const scaled = items.find((e) => e.reason === 'Autoscaled' && (e.involvedObject as { name?: string } | undefined)?.name === NAME);
  const at = (t?: string): number => (t ? Date.parse(t) : NaN);
  return [
    ['load started', t0],
    ['rule expression true (pending; scrape + rate window)', at(pending?.activeAt)],
    ['alert firing at Prometheus (rule for)', at(am[0]?.startsAt)],
    [
      'scale decision recorded (Alertmanager grouping + bridge + Broker + scale)',
      at((scaled?.eventTime ?? scaled?.lastTimestamp ?? scaled?.firstTimestamp) as string | undefined),
    ],
    ['spec.masters 4 seen', Date.now()],
  ];
}

function printPhases(t0: number, phases: [string, number][]): void {
  console.log(phases.map(([what, t]) => `  +${((t - t0) / 1000).toFixed(1).padStart(5)} s  ${what}`).join('\n'));
}

describe('autoscaling from real Prometheus and Alertmanager', () => {
  it('grows a 3x1 cluster under load a step per cooldown up to the bound, then shrinks it back, losing no acknowledged write', async () => {
    const { ready } = await applyCluster(e2e, {
      name: NAME,
      spec: { masters: 3, replicas: 1, autoscaling: { enabled: true, minMasters: 3, maxMasters: 5, cooldownSeconds: COOLDOWN_S } },
    });
    const ledger = await startLedger(statusNodes(ready), RATE);
    const t0 = Date.now();
    await eventually('a first step to 4 masters', async () => (await masters()) === 4, 120_000, 500);
    const firstStep = Date.now();
    const phases = await loopPhases(t0);
    await waitForReady(e2e, NS, NAME, 150_000, 8);
    phases.push(['4 masters Ready (reshard)', Date.now()]);
    printPhases(t0, phases);

    // The load stays: Alertmanager's re-sends are new steps once the cooldown has passed.
    await eventually('a second step to 5 masters', async () => (await masters()) === 5, 150_000, 500);
    expect(Date.now() - firstStep).toBeGreaterThanOrEqual(COOLDOWN_S * 1000);
    await waitForReady(e2e, NS, NAME, 150_000, 10);
    await eventually('a re-send at the bound, refused', async () => (await eventReasons()).includes('AutoscaleAtBound'), 90_000, 1000);
    expect(await masters()).toBe(5);
    const reasons = await eventReasons();
    expect(reasons.filter((r) => r === 'Autoscaled')).toHaveLength(2);

    const { acknowledged, failures } = await ledger.stop();
    console.log(`ledger: ${acknowledged.length} acknowledged writes, failures ${JSON.stringify(failures)}`);
    expect(acknowledged.length).toBeGreaterThan(RATE * 30);

    // The load is gone: LowThroughput fires and the masters come back down, a step per cooldown.
    await eventually('a step down to 4 masters', async () => (await masters()) === 4, 120_000, 500);
    await eventually('a step down to 3 masters', async () => (await masters()) === 3, 150_000, 500);
    const after = await waitForReady(e2e, NS, NAME, 150_000, 6);
    const client = clusterClient(after);
    try {
      expect(await missingWrites(client, acknowledged)).toEqual([]);
    } finally {
      client.disconnect();
    }
  }, 900_000);
});
