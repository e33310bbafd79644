// The discovery function's entry point.
import { z } from 'zod';
import { intVar, loadConfig, runFunction } from '../../shared/runtime/index.js';
import { createDiscoveryHost } from './handler.js';

const discoveryConfigSchema = z.object({
  DISCOVERY_CACHE_TTL_MS: intVar(0, 60_000, 'a number of milliseconds').default(1000),
  DISCOVERY_CONNECT_TIMEOUT_MS: intVar(50, 30_000, 'a number of milliseconds').default(500),
  DISCOVERY_LIVE_BUDGET_MS: intVar(100, 25_000, 'a number of milliseconds').default(3000),
  DISCOVERY_HEDGE_MS: intVar(10, 25_000, 'a number of milliseconds').default(150),
});

await runFunction(() => {
  const config = loadConfig(discoveryConfigSchema);
  return createDiscoveryHost({
    cacheTtlMs: config.DISCOVERY_CACHE_TTL_MS,
    connectTimeoutMs: config.DISCOVERY_CONNECT_TIMEOUT_MS,
    liveBudgetMs: config.DISCOVERY_LIVE_BUDGET_MS,
    hedgeMs: config.DISCOVERY_HEDGE_MS,
  }).host;
});
