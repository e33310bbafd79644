// The query parameters of the discovery endpoints, checked before any lookup. Pure.

export const ROLES = ['master', 'replica'] as const;
export type Role = (typeof ROLES)[number];

export interface ClusterQuery {
  clusterName: string;
  namespace?: string;
  role?: Role;
}

/** A bad parameter: answered with 400 and a message that names it. */
export class QueryError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
    this.name = 'QueryError';
  }
}

// Object names are RFC 1123 subdomains; namespaces are RFC 1123 labels.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function single(query: Record<string, unknown>, parameter: string): string | undefined {
  const value = query[parameter];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new QueryError(parameter, `${parameter} must be given once, as a plain value`);
  return value;
}

function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
}

/**
 * `clusterName` (required), `namespace` and, where `withRole`, `role`. Other parameters are ignored,
 * as the reference ignores them.
 */
export function parseClusterQuery(query: Record<string, unknown>, withRole = false): ClusterQuery {
  const clusterName = single(query, 'clusterName');
  if (clusterName === undefined)
    throw new QueryError('clusterName', 'clusterName is required, e.g. /cluster/nodes?clusterName=rediscluster1');
  if (clusterName === '') throw new QueryError('clusterName', 'clusterName must not be empty');
  if (clusterName.length > 253 || !SUBDOMAIN.test(clusterName)) {
    throw new QueryError(
      'clusterName',
      `clusterName ${shown(clusterName)} is not a valid RedisCluster name (lower-case letters, digits, '-' and '.', at most 253 characters)`,
    );
  }
  const out: ClusterQuery = { clusterName };

  const namespace = single(query, 'namespace');
  if (namespace !== undefined) {
    if (namespace === '') throw new QueryError('namespace', 'namespace must not be empty (leave it out to search every namespace)');
    if (namespace.length > 63 || !LABEL.test(namespace)) {
      throw new QueryError(
        'namespace',
        `namespace ${shown(namespace)} is not a valid namespace name (lower-case letters, digits and '-', at most 63 characters)`,
      );
    }
    out.namespace = namespace;
  }

  if (withRole) {
    const role = single(query, 'role');
    if (role !== undefined) {
      if (!(ROLES as readonly string[]).includes(role))
        throw new QueryError('role', `role must be one of ${ROLES.join(', ')}, got ${shown(role)}`);
      out.role = role as Role;
    }
  }
  return out;
}
