// The reconcile function: RedisCluster and Pod changes, resync pings and finished reshards.
// `index.mjs release` instead runs once and exits: the chart's post-delete hook (release.ts).
import { pino } from 'pino';
import { Kube } from '../../shared/kube/index.js';
import { createFunctionHost, runFunction } from '../../shared/runtime/index.js';
import { createReconcileHandlers } from './handler.js';
import type { NetworkPolicyOptions } from './network-policy.js';
import { releaseClusters } from './release.js';

const positive = (name: string): number | undefined => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

/** The chart sets both when networkPolicy.enabled; the labels come as JSON (toJson of a map). */
function networkPolicy(): NetworkPolicyOptions | undefined {
  const operatorNamespace = process.env['NETWORK_POLICY_OPERATOR_NAMESPACE'];
  if (!operatorNamespace) return undefined;
  const clientLabels: unknown = JSON.parse(process.env['NETWORK_POLICY_CLIENT_LABELS'] || '{}');
  if (typeof clientLabels !== 'object' || clientLabels === null || Object.values(clientLabels).some((v) => typeof v !== 'string'))
    throw new Error('NETWORK_POLICY_CLIENT_LABELS must be a JSON object of label names to string values');
  return { operatorNamespace, clientLabels: clientLabels as Record<string, string> };
}

if (process.argv[2] === 'release') {
  const log = pino({ name: 'reconcile', base: { function: 'reconcile', command: 'release' } });
  await releaseClusters(new Kube(), log).then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, 'releasing the RedisClusters failed');
      process.exit(1);
    },
  );
}

const policy = networkPolicy();
await runFunction(() =>
  createFunctionHost({
    name: 'reconcile',
    handlers: createReconcileHandlers({
      ...(positive('RECONCILE_PASS_BUDGET_MS') ? { passBudgetMs: positive('RECONCILE_PASS_BUDGET_MS')! } : {}),
      ...(positive('RECONCILE_LEASE_SECONDS') ? { leaseDurationSeconds: positive('RECONCILE_LEASE_SECONDS')! } : {}),
      ...(policy ? { networkPolicy: policy } : {}),
    }),
  }),
);
