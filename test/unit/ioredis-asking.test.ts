// The ASKING fix of test/helpers/ioredis-asking.ts, loaded for every test file.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

describe('ioredis ASKING', () => {
  it('an ASKING nobody waits for (as the Cluster client sends it) does not reject unhandled when its connection closes', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Nothing listens on port 1; the command waits in the offline queue until disconnect flushes it.
      const redis = new Redis({ port: 1, lazyConnect: true, retryStrategy: () => null });
      redis.asking();
      redis.disconnect();
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
