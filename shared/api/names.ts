// The RedisCluster resource's coordinates: the reference operator's names, kept exactly.
export const GROUP = 'redis.redis';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'RedisCluster';
export const LIST_KIND = 'RedisClusterList';
export const PLURAL = 'redisclusters';
export const SINGULAR = 'rediscluster';
/** `rc` is ReplicationController's short name, so ours must differ. */
export const SHORT_NAMES = ['rdc'] as const;
export const CATEGORIES = ['redis'] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}`;
