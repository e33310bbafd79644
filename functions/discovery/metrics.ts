// The discovery function's metrics: requests by endpoint and status, the answer cache's lookups and
// the cluster reads behind the cache.
import { Counter, type Registry } from 'prom-client';
import type { CacheStats } from './cache.js';

export interface DiscoveryMetrics {
  requests: Counter<'endpoint' | 'code'>;
  reads: Counter<'source'>;
}

export function discoveryMetrics(registry: Registry, cache: { readonly stats: CacheStats }): DiscoveryMetrics {
  const requests = new Counter({
    name: 'discovery_requests_total',
    help: 'Discovery requests, by endpoint and HTTP status',
    labelNames: ['endpoint', 'code'] as const,
    registers: [registry],
  });
  new Counter({
    name: 'discovery_cache_lookups_total',
    help: 'Answer cache lookups: hit (a stored answer), joined (waited for a read under way), load (started a read)',
    labelNames: ['result'] as const,
    registers: [registry],
    // Read from the cache's own tallies when scraped, so a lookup costs no metric update.
    collect() {
      this.reset();
      this.inc({ result: 'hit' }, cache.stats.hits);
      this.inc({ result: 'joined' }, cache.stats.joined);
      this.inc({ result: 'load' }, cache.stats.loads);
    },
  });
  const reads = new Counter({
    name: 'discovery_cluster_reads_total',
    help: 'Cluster reads behind the answer cache, by source (live: a node answered; status: none did)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  return { requests, reads };
}
