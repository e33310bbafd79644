// The reshard function's entry point. RESHARD_CHUNK_SECONDS bounds one request's slot moving
// (default 60, far inside the 300 s Knative timeout); RESHARD_CHUNK_SLOTS bounds its slots.
import { z } from 'zod';
import { createFunctionHost, intVar, loadConfig, runFunction } from '../../shared/runtime/index.js';
import { createReshardHandlers } from './handler.js';

const reshardConfigSchema = z.object({
  RESHARD_CHUNK_SECONDS: intVar(1, 240, 'a number of seconds').default(60),
  RESHARD_CHUNK_SLOTS: intVar(1, 16384, 'a number of slots').default(16384),
  RESHARD_LEASE_SECONDS: intVar(5, 300, 'a number of seconds').default(20),
  RESHARD_SETTLE_SECONDS: intVar(1, 120, 'a number of seconds').default(30),
});

await runFunction(() => {
  const config = loadConfig(reshardConfigSchema);
  return createFunctionHost({
    name: 'reshard',
    handlers: createReshardHandlers({
      settings: {
        chunkMs: config.RESHARD_CHUNK_SECONDS * 1000,
        chunkSlots: config.RESHARD_CHUNK_SLOTS,
        leaseSeconds: config.RESHARD_LEASE_SECONDS,
        settleMs: config.RESHARD_SETTLE_SECONDS * 1000,
      },
    }),
  });
});
