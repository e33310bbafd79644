import { describe, expect, it } from 'vitest';
import { SingleFlightCache } from '../../functions/discovery/cache.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlightCache', () => {
  it('a burst of concurrent gets runs one load and all get its value', async () => {
    const cache = new SingleFlightCache<number>({ ttlMs: 1000 });
    const gate = deferred<number>();
    let loads = 0;
    const load = () => {
      loads++;
      return gate.promise;
    };
    const burst = Array.from({ length: 50 }, () => cache.get('k', load));
    gate.resolve(42);
    expect(await Promise.all(burst)).toEqual(new Array(50).fill(42));
    expect(loads).toBe(1);
    expect(cache.stats).toMatchObject({ loads: 1, joined: 49, hits: 0 });
  });

  it('serves the stored value until the TTL is over, then loads again', async () => {
    let now = 0;
    const cache = new SingleFlightCache<number>({ ttlMs: 1000, now: () => now });
    let n = 0;
    const load = async () => ++n;
    expect(await cache.get('k', load)).toBe(1);
    now = 999;
    expect(await cache.get('k', load)).toBe(1);
    now = 1000;
    expect(await cache.get('k', load)).toBe(2);
    expect(cache.stats).toMatchObject({ loads: 2, hits: 1 });
  });

  it('keys are independent', async () => {
    const cache = new SingleFlightCache<string>({ ttlMs: 1000 });
    expect(await Promise.all([cache.get('a', async () => 'A'), cache.get('b', async () => 'B')])).toEqual(['A', 'B']);
    expect(cache.stats.loads).toBe(2);
  });

  it('a failed load is shared by its waiters but not stored', async () => {
    const cache = new SingleFlightCache<number>({ ttlMs: 1000 });
    const gate = deferred<number>();
    const a = cache.get('k', () => gate.promise);
    const b = cache.get('k', () => gate.promise);
    gate.reject(new Error('node down'));
    await expect(a).rejects.toThrow('node down');
    await expect(b).rejects.toThrow('node down');
    expect(await cache.get('k', async () => 7)).toBe(7);
    expect(cache.stats).toMatchObject({ loads: 2, joined: 1, failures: 1 });
  });

  it('a load that throws synchronously becomes a rejection', async () => {
    const cache = new SingleFlightCache<number>({ ttlMs: 1000 });
    await expect(
      cache.get('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(cache.size).toBe(0);
  });

  it('with TTL 0 it still shares a load under way but keeps nothing', async () => {
    const cache = new SingleFlightCache<number>({ ttlMs: 0 });
    let n = 0;
    const gate = deferred<void>();
    const load = async () => {
      await gate.promise;
      return ++n;
    };
    const both = Promise.all([cache.get('k', load), cache.get('k', load)]);
    gate.resolve();
    expect(await both).toEqual([1, 1]);
    expect(await cache.get('k', load)).toBe(2);
  });

  it('a load replaced by delete() does not overwrite the newer value', async () => {
    const cache = new SingleFlightCache<string>({ ttlMs: 1000 });
    const old = deferred<string>();
    const first = cache.get('k', () => old.promise);
    cache.delete('k');
    expect(await cache.get('k', async () => 'new')).toBe('new');
    old.resolve('old');
    expect(await first).toBe('old');
    expect(await cache.get('k', async () => 'other')).toBe('new');
  });

  it('keeps at most maxEntries keys, dropping the oldest', async () => {
    const cache = new SingleFlightCache<number>({ ttlMs: 60_000, maxEntries: 3 });
    for (let i = 0; i < 5; i++) await cache.get(`k${i}`, async () => i);
    expect(cache.size).toBe(3);
    let reloaded = false;
    expect(await cache.get('k0', async () => ((reloaded = true), 100))).toBe(100);
    expect(reloaded).toBe(true);
    expect(await cache.get('k4', async () => -1)).toBe(4);
  });

  it('refuses a bad TTL naming it', () => {
    expect(() => new SingleFlightCache({ ttlMs: -1 })).toThrow('ttlMs must be a number >= 0, got -1');
  });
});
