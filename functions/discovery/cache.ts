// A short-lived answer cache with single-flight loading: while one load of a key is under way, every
// other request for that key waits for it, so a burst of N requests costs one Redis round.

export interface CacheOptions {
  /** How long a loaded value is served; 0 keeps nothing beyond the load itself (still single-flight). */
  ttlMs: number;
  /** Keys kept at most; the oldest go first when it is exceeded. */
  maxEntries?: number;
  now?: () => number;
}

export interface CacheStats {
  /** Answered from a stored value. */
  hits: number;
  /** Joined a load already under way. */
  joined: number;
  /** Loads started. */
  loads: number;
  /** Loads that failed (failures are not stored). */
  failures: number;
}

type Entry<V> = { kind: 'value'; value: V; expires: number } | { kind: 'loading'; promise: Promise<V> };

export class SingleFlightCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  readonly stats: CacheStats = { hits: 0, joined: 0, loads: 0, failures: 0 };

  constructor(opts: CacheOptions) {
    if (!Number.isFinite(opts.ttlMs) || opts.ttlMs < 0) throw new Error(`ttlMs must be a number >= 0, got ${opts.ttlMs}`);
    const maxEntries = opts.maxEntries ?? 1000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`maxEntries must be a whole number >= 1, got ${maxEntries}`);
    this.ttlMs = opts.ttlMs;
    this.maxEntries = maxEntries;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The stored value of `key` while fresh, else the result of `load` (shared by concurrent callers). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry?.kind === 'loading') {
      this.stats.joined++;
      return entry.promise;
    }
    if (entry?.kind === 'value') {
      if (entry.expires > this.now()) {
        this.stats.hits++;
        return Promise.resolve(entry.value);
      }
      this.entries.delete(key);
    }
    this.stats.loads++;
    const promise: Promise<V> = (async () => load())().then(
      (value) => {
        if (this.isCurrent(key, promise)) {
          // Re-inserted so the Map's order stays oldest-loaded first, which eviction relies on.
          this.entries.delete(key);
          if (this.ttlMs > 0) this.entries.set(key, { kind: 'value', value, expires: this.now() + this.ttlMs });
        }
        return value;
      },
      (err: unknown) => {
        this.stats.failures++;
        if (this.isCurrent(key, promise)) this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, { kind: 'loading', promise });
    this.evict();
    return promise;
  }

  /** Drops a key, so the next request loads afresh. */
  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Whether `promise` is still the load stored for `key` (a delete or clear may have replaced it). */
  private isCurrent(key: string, promise: Promise<V>): boolean {
    const entry = this.entries.get(key);
    return entry?.kind === 'loading' && entry.promise === promise;
  }

  private evict(): void {
    if (this.entries.size <= this.maxEntries) return;
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.kind === 'value' && entry.expires <= now) this.entries.delete(key);
    }
    // Loads under way are never dropped: their waiters still get the answer, it just is not kept.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries) break;
      if (entry.kind === 'value') this.entries.delete(key);
    }
  }
}
