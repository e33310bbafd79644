// The RedisCluster resource's coordinates, as the CRD declares them.
export const GROUP = 'redis.redis';
export const VERSION = 'v1beta1';
export const PLURAL = 'redisclusters';
export const KIND = 'RedisCluster';
export const API_VERSION = `${GROUP}/${VERSION}`;
