// The dead-letter function's entry point.
import { z } from 'zod';
import { intVar, loadConfig, runFunction } from '../../shared/runtime/index.js';
import { createDeadLetterHost } from './handler.js';

const deadLetterConfigSchema = z.object({
  DEAD_LETTER_KEEP: intVar(1, 10_000, 'a number of events').default(100),
});

await runFunction(() => {
  const config = loadConfig(deadLetterConfigSchema);
  return createDeadLetterHost({ keep: config.DEAD_LETTER_KEEP }).host;
});
