// The autoscaling loop when the Broker is down: the alert-bridge answers 5xx, real Alertmanager
// counts the failed notifications and retries on its own, and once the Broker is back the cluster
// grows exactly one step (the cooldown holds the re-sends that follow).
import { describe, expect, it } from 'vitest';
import { applyCluster, eventually, statusNodes, useE2E } from '../helpers/e2e.js';
import { startLedger } from '../helpers/ledger.js';
import { clusterEventReasons, fastLoop, routeValue, specMasters } from '../helpers/autoscaling.js';

const NS = 'cache';
const NAME = 'brokerdown';

const e2e = useE2E({ namespaces: [NS], ...fastLoop({ [routeValue('repeatInterval')]: '4s' }) });

const masters = (): Promise<number> => specMasters(e2e, NS, NAME);

const autoscaled = async (): Promise<number> => (await clusterEventReasons(e2e, NS, NAME)).filter((r) => r === 'Autoscaled').length;

/** Alertmanager's own count of webhook notifications that failed. */
async function failedNotifications(): Promise<number> {
  const text = await (await fetch(`${e2e.platform.urls.alertmanager}/metrics`)).text();
  return [...text.matchAll(/^alertmanager_notifications_failed_total\{[^}]*integration="webhook"[^}]*\} (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

describe('autoscaling while the Broker is down', () => {
  it('Alertmanager retries the 5xx on its own, and the cluster grows once when the Broker is back', async () => {
    const { ready } = await applyCluster(e2e, {
      name: NAME,
      spec: { masters: 3, replicas: 0, autoscaling: { enabled: true, minMasters: 3, maxMasters: 5, cooldownSeconds: 3600 } },
    });
    const eventing = e2e.platform.eventing;
    await eventing.stopIngress();
    const ledger = await startLedger(statusNodes(ready), 2000);
    try {
      await eventually('failed webhook notifications', async () => (await failedNotifications()) >= 2, 90_000, 500);
      expect(await masters()).toBe(3);
      await eventing.startIngress();
      await eventually('one step to 4 masters', async () => (await masters()) === 4, 90_000, 500);
      // Alertmanager keeps re-sending while the load stays: inside the cooldown nothing more happens.
      await new Promise((r) => setTimeout(r, 15_000));
      expect(await masters()).toBe(4);
      expect(await autoscaled()).toBe(1);
    } finally {
      await eventing.startIngress().catch(() => undefined);
      await ledger.stop();
    }
  }, 300_000);
});
