// The discovery function: where a cluster's nodes are, in the reference's format
// (GET /cluster/nodes) and as a richer view (GET /cluster/topology). Answers come from a short-lived,
// single-flight cache of one live CLUSTER NODES read, or from the RedisCluster status when no node
// answers. It writes nothing.
import type { Router } from 'express';
import type { Logger } from 'pino';
import { createFunctionHost, type BaseConfig, type FunctionHost } from '../../shared/runtime/index.js';
import { SingleFlightCache } from './cache.js';
import { mountEndpoints, mountFallbacks } from './http.js';
import { cacheKey, type Resolution } from './lookup.js';
import { discoveryMetrics } from './metrics.js';
import type { ClusterQuery } from './query.js';
import { ClusterReader, type ReaderOptions } from './reader.js';
import { RenderedViews } from './representation.js';
import type { ClusterSnapshot } from './view.js';

export interface DiscoveryOptions extends ReaderOptions {
  /** How long an answer is reused. Default 1000 ms. */
  cacheTtlMs?: number;
}

export interface Discovery {
  /** Mounts GET /cluster/nodes and GET /cluster/topology. */
  routes(router: Router, host: FunctionHost): void;
  /** The cached answer for a query (what both endpoints serve). */
  resolve(query: ClusterQuery): Promise<Resolution>;
  readonly cache: SingleFlightCache<Resolution>;
  /** Closes the Redis connections. */
  close(): Promise<void>;
}

export function createDiscovery(opts: DiscoveryOptions = {}): Discovery {
  const cache = new SingleFlightCache<Resolution>({ ttlMs: opts.cacheTtlMs ?? 1000 });
  const reader = new ClusterReader(opts);
  const resolve = (query: ClusterQuery): Promise<Resolution> => cache.get(cacheKey(query), () => reader.load(query));
  // A cache refresh replaces the snapshot object, so each view is rendered once per read.
  const rendered = new RenderedViews<ClusterSnapshot>();

  function routes(router: Router, host: FunctionHost): void {
    const { requests, reads } = discoveryMetrics(host.registry, cache);
    reader.instrument(host.log, reads);
    mountEndpoints(router, host, { resolve, rendered, requests, log: host.log });
    mountFallbacks(router);
  }

  return { routes, resolve, cache, close: () => reader.close() };
}

export interface DiscoveryHostOptions extends DiscoveryOptions {
  config?: Partial<BaseConfig>;
  logger?: Logger;
}

/** The discovery function's host: health, metrics and the two endpoints. */
export function createDiscoveryHost(opts: DiscoveryHostOptions = {}): { host: FunctionHost; discovery: Discovery } {
  const { config, logger, ...discoveryOptions } = opts;
  const discovery = createDiscovery(discoveryOptions);
  const host = createFunctionHost({
    name: 'discovery',
    routes: discovery.routes,
    ...(config ? { config } : {}),
    ...(logger ? { logger } : {}),
  });
  return { host, discovery };
}
