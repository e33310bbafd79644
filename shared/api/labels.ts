// The labels every object of a cluster carries; selectors built from them must agree everywhere.
import { GROUP } from './names.js';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_NAME_VALUE = 'redis-cluster';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_MANAGED_BY_VALUE = 'redis-operator';
/** The RedisCluster's name. */
export const LABEL_CLUSTER = `${GROUP}/cluster`;
/** The node's ordinal i: it listens on basePort + i. */
export const LABEL_ORDINAL = `${GROUP}/ordinal`;
/** The shard s (one master and its replicas) the node belongs to; replicas attach within it. */
export const LABEL_SHARD = `${GROUP}/shard`;
/**
 * On each Pod: the hash of the spec's parts that only a restart applies (restartHash). A Pod whose
 * hash is not the spec's is restarted by the rolling update.
 */
export const ANNOTATION_RESTART_HASH = `${GROUP}/restart-hash`;
/**
 * On the Pods of a shard that rolls without its surge (no machine took the extra Pod): the restart
 * hash of the roll that gave it up, so no later pass of that roll asks for one again.
 */
export const ANNOTATION_SURGE_FORGONE = `${GROUP}/surge-forgone`;
/** On a Pod: the hash of the TLS Secret its node has loaded (live rotation reloads on a change). */
export const ANNOTATION_TLS_HASH = `${GROUP}/tls-hash`;
/** What the node's ports serve while TLS is turned on or off (functions/reconcile/tls-transition.ts). */
export const ANNOTATION_TLS_LAYOUT = `${GROUP}/tls-layout`;
/** master | replica, as last observed; informational, never used to select. */
export const LABEL_ROLE = `${GROUP}/role`;

/** The labels selecting every node of one cluster. */
export function selectorLabels(clusterName: string): Record<string, string> {
  return { [LABEL_NAME]: LABEL_NAME_VALUE, [LABEL_CLUSTER]: clusterName };
}

/** The same selector as a string, as the /scale subresource wants it in `status.selector`. */
export function selectorFor(clusterName: string): string {
  return Object.entries(selectorLabels(clusterName))
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** The labels of every object the operator creates for a cluster. */
export function clusterLabels(clusterName: string): Record<string, string> {
  return { ...selectorLabels(clusterName), [LABEL_MANAGED_BY]: LABEL_MANAGED_BY_VALUE };
}
