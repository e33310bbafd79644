// What a Redis Pod's ports speak, as its Pod says: reconcile plans TLS transitions with it, and
// every function that connects to the nodes (discovery's live view too) picks the protocol per
// node with it while a transition runs (docs/security.md).
import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_TLS_LAYOUT } from '../api/labels.js';
import { endpointKey } from '../redis/endpoint.js';
import type { Endpoint } from '../redis/types.js';

/**
 * What a node's ports serve. `plain` and `tls`: its port only. `plain+tls`: its port plaintext and
 * its transition port TLS (on the way to TLS); `tls+plain`: the reverse (on the way back).
 */
export type PortLayout = 'plain' | 'tls' | 'plain+tls' | 'tls+plain';

/** The Pod volume the TLS Secret is mounted from. */
export const TLS_VOLUME = 'tls';

/** A dual layout's second port: the node's port plus this. */
export const TRANSITION_PORT_OFFSET = 1000;

export const isDual = (layout: PortLayout): boolean => layout === 'plain+tls' || layout === 'tls+plain';

/** The node's port speaks TLS. */
export const portSpeaksTls = (layout: PortLayout): boolean => layout === 'tls' || layout === 'tls+plain';

/** The Pod's layout: its annotation in a transition, else TLS exactly when it mounts the Secret. */
export function podLayout(annotation: string | undefined, tlsSecretName: string | undefined): PortLayout {
  if (annotation === 'plain+tls' || annotation === 'tls+plain') return annotation;
  return tlsSecretName ? 'tls' : 'plain';
}

/** A Pod's layout and the TLS Secret it mounts, if any. */
export function podTls(pod: V1Pod): { layout: PortLayout; secretName?: string } {
  const secretName = pod.spec?.volumes?.find((v) => v.name === TLS_VOLUME)?.secret?.secretName;
  const layout = podLayout(pod.metadata?.annotations?.[ANNOTATION_TLS_LAYOUT], secretName);
  return { layout, ...(secretName ? { secretName } : {}) };
}

/**
 * Which node ports speak TLS, from the Pods' layouts; an endpoint no Pod has gets `otherwise`. And
 * the other way round, a dual-layout node's second port (what a node answering over TLS names it
 * by once the bus is TLS) to its own port, so every report names each node alike.
 */
export class EndpointProtocols {
  private tls = new Map<string, boolean>();
  private second = new Map<string, Endpoint>();
  constructor(private readonly otherwise: boolean) {}

  /**
   * `terminating`: its Pod is being deleted. Its node still runs (the preStop hook) and its peers
   * still name it by its second port; a live Pod at the same address (host network) decides the
   * protocol.
   */
  learn(nodes: readonly (Endpoint & { layout: PortLayout; terminating?: boolean })[]): void {
    const liveLast = [...nodes].sort((a, b) => Number(!!b.terminating) - Number(!!a.terminating));
    this.tls = new Map(liveLast.map((n) => [endpointKey(n), portSpeaksTls(n.layout)]));
    this.second = new Map(
      nodes
        .filter((n) => isDual(n.layout))
        .map((n) => [endpointKey({ ip: n.ip, port: n.port + TRANSITION_PORT_OFFSET }), { ip: n.ip, port: n.port }]),
    );
  }

  speaksTls = (endpoint: Endpoint): boolean => this.tls.get(endpointKey(endpoint)) ?? this.otherwise;

  canonical = (endpoint: Endpoint): Endpoint => this.second.get(endpointKey(endpoint)) ?? endpoint;
}
