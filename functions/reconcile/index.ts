// The reconcile function: RedisCluster and Pod changes, resync pings and finished reshards.
import { createFunctionHost, runFunction } from '../../shared/runtime/index.js';
import { createReconcileHandlers } from './handler.js';

const positive = (name: string): number | undefined => {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

await runFunction(() =>
  createFunctionHost({
    name: 'reconcile',
    handlers: createReconcileHandlers({
      ...(positive('RECONCILE_PASS_BUDGET_MS') ? { passBudgetMs: positive('RECONCILE_PASS_BUDGET_MS')! } : {}),
      ...(positive('RECONCILE_LEASE_SECONDS') ? { leaseDurationSeconds: positive('RECONCILE_LEASE_SECONDS')! } : {}),
    }),
  }),
);
