// The NetworkPolicy of one RedisCluster (chart option networkPolicy.enabled): its nodes' ports take
// traffic only from the cluster's own Pods, the functions that talk to Redis, and Pods with the
// labels the chart names. Owned by the RedisCluster, so it goes with it.
import { createHash } from 'node:crypto';
import type {
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1NetworkPolicySpec,
} from '@kubernetes/client-node';
import { BUS_PORT_OFFSET, EXPORTER_PORT_OFFSET, MAX_NODES, type DefaultedSpec } from '../../shared/api/index.js';
import { clusterLabels, selectorLabels } from '../../shared/api/labels.js';
import { TRANSITION_PORT_OFFSET } from '../../shared/tls/layout.js';
import { ownerReference, type ClusterIdentity } from './resources.js';

/** What the chart passes: where the functions run and which client Pods may connect. */
export interface NetworkPolicyOptions {
  operatorNamespace: string;
  /** Labels a client Pod in the cluster's namespace must carry; none: only the operator and the nodes. */
  clientLabels: Record<string, string>;
}

/** What the policy was written from: the client returns model classes, awkward to compare. */
export const POLICY_HASH = 'redis.redis/policy-hash';

/** The functions that open connections to Redis nodes (Knative labels each Pod with its Service). */
export const REDIS_CLIENT_FUNCTIONS = ['reconcile', 'reshard', 'discovery'];

/**
 * Node i listens on basePort + i (clients, replication), + BUS_PORT_OFFSET (cluster bus) and
 * + EXPORTER_PORT_OFFSET (metrics). Ordinals stay below MAX_NODES, so one range per kind covers
 * every node the cluster may ever have, scaled or not.
 */
function portRange(spec: DefaultedSpec, offset: number): V1NetworkPolicyPort {
  const port = spec.basePort + offset;
  return { protocol: 'TCP', port, endPort: Math.min(65535, port + MAX_NODES - 1) };
}

/** `transition`: TLS is being turned on or off, and each node serves the other protocol on its second port. */
export function buildNetworkPolicy(
  cluster: ClusterIdentity,
  spec: DefaultedSpec,
  opts: NetworkPolicyOptions,
  transition = false,
): V1NetworkPolicy {
  const clientPorts = [portRange(spec, 0), ...(transition ? [portRange(spec, TRANSITION_PORT_OFFSET)] : [])];
  const ownNodes: V1NetworkPolicyPeer = { podSelector: { matchLabels: selectorLabels(cluster.name) } };
  const functions: V1NetworkPolicyPeer = {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': opts.operatorNamespace } },
    podSelector: { matchExpressions: [{ key: 'serving.knative.dev/service', operator: 'In', values: REDIS_CLIENT_FUNCTIONS }] },
  };
  // `_from`: the client's name for `from` (a reserved word); its serializer writes `from`.
  const ingress: V1NetworkPolicyIngressRule[] = [
    { _from: [ownNodes], ports: [...clientPorts, portRange(spec, BUS_PORT_OFFSET)] },
    { _from: [functions], ports: clientPorts },
  ];
  // An empty podSelector would admit every Pod of the namespace: no labels, no client rule.
  if (Object.keys(opts.clientLabels).length > 0)
    ingress.push({
      _from: [{ podSelector: { matchLabels: opts.clientLabels } }],
      ports: [...clientPorts, portRange(spec, EXPORTER_PORT_OFFSET)],
    });
  const policySpec: V1NetworkPolicySpec = { podSelector: { matchLabels: selectorLabels(cluster.name) }, policyTypes: ['Ingress'], ingress };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: cluster.name,
      namespace: cluster.namespace,
      labels: clusterLabels(cluster.name),
      annotations: { [POLICY_HASH]: createHash('sha256').update(JSON.stringify(policySpec)).digest('hex').slice(0, 16) },
      ownerReferences: [ownerReference(cluster)],
    },
    spec: policySpec,
  };
}
