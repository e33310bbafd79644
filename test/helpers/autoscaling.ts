// The autoscaling loop's end-to-end pieces: chart values that make real Prometheus and Alertmanager
// react in seconds instead of minutes (the product's defaults stay the reference's), and what the
// tests read back from the cluster.
import type { E2E, E2EOptions } from './e2e.js';

const RULES = 'redisOperator.metrics.prometheusRule.rules';
const ROUTE = 'redisOperator.metrics.alertmanagerConfig';

/** Monitoring on, scraping and evaluating every second, the alerts' windows and waits short. */
export function fastLoop(values: Record<string, unknown> = {}): Pick<E2EOptions, 'monitoring' | 'operator'> {
  return {
    monitoring: { scrapeInterval: '1s', evaluationInterval: '1s' },
    operator: {
      values: {
        'redisOperator.service.type': 'ClusterIP',
        'prometheus.server.scrapeInterval': '1s',
        'prometheus.server.evaluationInterval': '1s',
        [`${RULES}.throughputThreshold`]: 300,
        [`${RULES}.lowThroughputThreshold`]: 50,
        [`${RULES}.highFor`]: '2s',
        [`${RULES}.lowFor`]: '4s',
        [`${RULES}.rateWindow`]: '4s',
        [`${ROUTE}.groupWait`]: '1s',
        [`${ROUTE}.groupInterval`]: '2s',
        ...values,
      },
    },
  };
}

export const routeValue = (key: string): string => `${ROUTE}.${key}`;

/** spec.masters as stored now. */
export async function specMasters(e2e: E2E, namespace: string, name: string): Promise<number> {
  return ((await e2e.getCluster(namespace, name))?.spec as { masters: number }).masters;
}

/** The reasons of the Events recorded for one RedisCluster, oldest first. */
export async function clusterEventReasons(e2e: E2E, namespace: string, name: string): Promise<string[]> {
  const { items } = await e2e.platform.kube.list('v1', 'Event', namespace);
  return items.filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === name).map((e) => e.reason as string);
}
