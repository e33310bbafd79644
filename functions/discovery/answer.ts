// What a discovery endpoint answers for a request: a JSON error that says what went wrong, or the
// view of the cluster it found, rendered once per read. Pure.
import { KIND } from '../../shared/api/names.js';
import type { Unresolved } from './lookup.js';
import type { ClusterQuery, QueryError, Role } from './query.js';
import { represent, type Representation } from './representation.js';
import { nodesAnswer, topologyAnswer, type ClusterSnapshot } from './view.js';

export const ENDPOINTS = ['nodes', 'topology'] as const;
/** GET /cluster/nodes or GET /cluster/topology; also the `endpoint` label of the request metric. */
export type EndpointName = (typeof ENDPOINTS)[number];

export interface ErrorAnswer {
  code: number;
  body: { message: string; namespaces?: string[] };
}

export function badQueryAnswer(err: QueryError): ErrorAnswer {
  return { code: 400, body: { message: err.message } };
}

/** The Kubernetes API could not be read: the client may ask again. */
export function lookupFailedAnswer(query: ClusterQuery, reason: string): ErrorAnswer {
  return { code: 503, body: { message: `cannot look up ${KIND} "${query.clusterName}": ${reason}` } };
}

export function unresolvedAnswer(query: ClusterQuery, unresolved: Unresolved): ErrorAnswer {
  if (unresolved.kind === 'not-found') return { code: 404, body: { message: unresolved.message } };
  const { namespaces } = unresolved;
  return {
    code: 409,
    body: {
      message: `${KIND} "${query.clusterName}" exists in several namespaces (${namespaces.join(', ')}); add namespace=<one of them>`,
      namespaces,
    },
  };
}

// Constant names, so a request for a rendered view builds no string.
const NODE_VIEWS: Record<Role, string> = { master: 'nodes:master', replica: 'nodes:replica' };

/** Which of a read's rendered views a request wants: the node list per role, or the topology. */
export function viewName(endpoint: EndpointName, role: Role | undefined): string {
  if (endpoint === 'topology') return 'topology';
  return role ? NODE_VIEWS[role] : 'nodes:';
}

export function renderView(snapshot: ClusterSnapshot, endpoint: EndpointName, role: Role | undefined): Representation {
  return represent(endpoint === 'nodes' ? nodesAnswer(snapshot, role) : topologyAnswer(snapshot), snapshot.source);
}
