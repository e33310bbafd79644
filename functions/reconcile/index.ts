// The reconcile function: RedisCluster and Pod changes, resync pings and finished reshards.
// `index.mjs release` instead runs once and exits: the chart's post-delete hook (release.ts).
import { pino } from 'pino';
import { Kube } from '../../shared/kube/index.js';
import { createFunctionHost, runFunction } from '../../shared/runtime/index.js';
import { createReconcileHandlers } from './handler.js';
import { releaseClusters } from './release.js';

const positive = (name: string): number | undefined => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

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

await runFunction(() =>
  createFunctionHost({
    name: 'reconcile',
    handlers: createReconcileHandlers({
      ...(positive('RECONCILE_PASS_BUDGET_MS') ? { passBudgetMs: positive('RECONCILE_PASS_BUDGET_MS')! } : {}),
      ...(positive('RECONCILE_LEASE_SECONDS') ? { leaseDurationSeconds: positive('RECONCILE_LEASE_SECONDS')! } : {}),
    }),
  }),
);
