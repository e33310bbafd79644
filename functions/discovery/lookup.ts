// What a query's lookup makes of the RedisCluster objects it finds: which cluster the query names,
// which node addresses a read asks and in what order, and the snapshot of what the read saw. Pure.
import { DEFAULTS } from '../../shared/api/fields.js';
import { KIND } from '../../shared/api/names.js';
import type { NodeStatus } from '../../shared/api/status.js';
import type { Endpoint, NodeReport } from '../../shared/redis/types.js';
import type { ClusterQuery } from './query.js';
import type { ClusterSnapshot } from './view.js';

/** The parts of a RedisCluster object discovery reads; anything else is ignored. */
export interface ClusterObject {
  metadata?: { name?: string; namespace?: string; generation?: unknown };
  spec?: {
    masters?: unknown;
    replicas?: unknown;
    basePort?: unknown;
    passwordSecret?: { name?: unknown; key?: unknown };
    tls?: { secretName?: unknown };
  };
  status?: { phase?: unknown; nodes?: unknown; conditions?: unknown; observedGeneration?: unknown };
}

/** A query that names no single cluster. */
export type Unresolved = { kind: 'not-found'; message: string } | { kind: 'ambiguous'; namespaces: string[] };

export type Resolution = Unresolved | { kind: 'found'; snapshot: ClusterSnapshot };

/** The answer cache's key: the same name asked in any namespace is another lookup than in one. */
export function cacheKey(query: ClusterQuery): string {
  return `${query.namespace ?? '*'}/${query.clusterName}`;
}

/** The one cluster among those a lookup found, and the namespace it is read in. */
export function pickCluster(
  query: ClusterQuery,
  found: readonly ClusterObject[],
): Unresolved | { kind: 'found'; cluster: ClusterObject; namespace: string } {
  if (found.length === 0) {
    const where = query.namespace ? `in namespace "${query.namespace}"` : 'in any namespace';
    return { kind: 'not-found', message: `${KIND} "${query.clusterName}" not found ${where}` };
  }
  if (found.length > 1) {
    return { kind: 'ambiguous', namespaces: found.map((c) => c.metadata?.namespace ?? '').sort() };
  }
  const cluster = found[0]!;
  return { kind: 'found', cluster, namespace: cluster.metadata?.namespace ?? query.namespace ?? 'default' };
}

function wholeNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** status.nodes entries that carry an address; a malformed entry is skipped, not fatal. */
export function statusNodesOf(cluster: ClusterObject): NodeStatus[] {
  const nodes = cluster.status?.nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes.filter(
    (n): n is NodeStatus =>
      !!n &&
      typeof n === 'object' &&
      typeof n.ip === 'string' &&
      typeof n.port === 'number' &&
      (n.role === 'master' || n.role === 'replica') &&
      typeof n.id === 'string',
  );
}

export function basePortOf(cluster: ClusterObject): number {
  return wholeNumber(cluster.spec?.basePort) ?? DEFAULTS.basePort;
}

/** The Secret key holding the cluster's password, when it has one. */
export function passwordRefOf(cluster: ClusterObject): { name: string; key: string } | undefined {
  const ref = cluster.spec?.passwordSecret;
  if (!ref || typeof ref.name !== 'string') return undefined;
  return { name: ref.name, key: typeof ref.key === 'string' ? ref.key : DEFAULTS.passwordKey };
}

/**
 * Pods may differ from the spec: a rolling update under way (the RollingUpdate condition True), or
 * a spec the status does not describe yet (a roll's first Pod is made before the status says so).
 */
export function isRolling(cluster: ClusterObject): boolean {
  const conditions = cluster.status?.conditions;
  const rolling =
    Array.isArray(conditions) && conditions.some((c) => !!c && typeof c === 'object' && c.type === 'RollingUpdate' && c.status === 'True');
  const observed = cluster.status?.observedGeneration;
  // A status with no observedGeneration (none written yet, or by another writer) says nothing.
  return rolling || (typeof observed === 'number' && observed !== cluster.metadata?.generation);
}

/** The Secret whose ca.crt the nodes' certificates are checked against, when the cluster serves TLS. */
export function tlsSecretOf(cluster: ClusterObject): string | undefined {
  const name = cluster.spec?.tls?.secretName;
  return typeof name === 'string' ? name : undefined;
}

export function endpointText(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * The candidates not asked yet in this read, the node that answered last first (it answered, so
 * it most likely answers again); the others keep their order.
 */
export function askOrder(candidates: readonly Endpoint[], asked: ReadonlySet<string>, lastObserver: string | undefined): Endpoint[] {
  const fresh = candidates.filter((e) => !asked.has(endpointText(e)));
  return fresh.sort((a, b) => Number(endpointText(b) === lastObserver) - Number(endpointText(a) === lastObserver));
}

/** What one read of a cluster saw: the report of the node that answered, if any, and who did not. */
export interface ReadOutcome {
  report?: NodeReport;
  statusNodes: NodeStatus[];
  unreachable: ClusterSnapshot['unreachable'];
}

export function snapshotOf(
  cluster: ClusterObject,
  namespace: string,
  name: string,
  read: ReadOutcome,
  observedAt: string,
): ClusterSnapshot {
  const { report, statusNodes, unreachable } = read;
  const masters = wholeNumber(cluster.spec?.masters);
  const replicas = wholeNumber(cluster.spec?.replicas);
  return {
    name,
    namespace,
    source: report ? 'live' : 'status',
    observedAt,
    ...(report ? { report } : {}),
    statusNodes,
    unreachable,
    ...(typeof cluster.status?.phase === 'string' ? { phase: cluster.status.phase } : {}),
    ...(masters !== undefined ? { masters } : {}),
    ...(replicas !== undefined ? { replicas } : {}),
  };
}
