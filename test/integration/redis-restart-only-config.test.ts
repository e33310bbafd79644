// Which redisConfig settings need a restart is a claim about Redis itself: a real redis-server
// refuses CONFIG SET for every setting the restart hash covers, and takes the ones set live.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { applyDefaults, RESTART_ONLY_CONFIG } from '../../shared/api/index.js';
import { liveSettings } from '../../functions/reconcile/resources.js';
import { startRedisNodes, type Harness } from '../helpers/redis-harness.js';

let harness: Harness;
let client: Redis;

beforeAll(async () => {
  harness = await startRedisNodes(1);
  client = new Redis({ host: harness.endpoints[0]!.ip, port: harness.endpoints[0]!.port, lazyConnect: true });
  await client.connect();
}, 30_000);

afterAll(async () => {
  client?.disconnect();
  await harness?.stop();
});

/** CONFIG SET of the value the node has now (or of "1" for a name CONFIG GET does not know). */
async function setToCurrent(name: string): Promise<string> {
  const current = (await client.call('CONFIG', 'GET', name)) as string[];
  try {
    return String(await client.call('CONFIG', 'SET', name, current[1] ?? '1'));
  } catch (err) {
    return (err as Error).message;
  }
}

describe('restart-only Redis settings', () => {
  it('are refused by CONFIG SET on a running node', async () => {
    for (const name of RESTART_ONLY_CONFIG) {
      expect(await setToCurrent(name), name).toMatch(/immutable config|Unknown option/);
    }
  });

  it('leave the live settings, which a running node takes', async () => {
    const spec = applyDefaults({ maxMemory: '64mb', redisConfig: { databases: '4', 'slowlog-log-slower-than': '5000', hz: '20' } });
    const live = liveSettings(spec);
    expect(live).not.toHaveProperty('databases');
    expect(live).toMatchObject({ 'slowlog-log-slower-than': '5000', hz: '20' });
    for (const name of ['slowlog-log-slower-than', 'hz']) expect(await setToCurrent(name), name).toBe('OK');
  });
});
