// The TLS transition as a reconcile pass sees it (tls-transition.ts plans it): from one
// observation, what the roll brings the Pods to, whether the bus is swept, and the layout a new
// Pod gets. Pure.
import type { Observation, PodInfo } from './observe.js';
import { finalTls, type ConfTls, type NodeTls } from './resources.js';
import { confBus, layoutForNewPod, planTlsTransition, startingBus, type TransitionPod, type TransitionStep } from './tls-transition.js';

type Seen = Pick<Observation, 'spec' | 'pods' | 'tlsBus'>;

function transitionPods(o: Seen): TransitionPod[] {
  return o.pods
    .filter((p) => !p.deleting)
    .map((p) => {
      // A Pod not started yet will start on its layout's bus; a running one says which it runs.
      const bus = p.ip ? o.tlsBus?.get(p.name) : startingBus(p.layout);
      return { name: p.name, layout: p.layout, ...(bus !== undefined ? { busTls: bus } : {}) };
    });
}

export function tlsTransition(o: Seen): TransitionStep {
  return planTlsTransition(!!o.spec.tls, transitionPods(o));
}

/** The Secret the nodes' TLS files come from: the spec's, or while TLS is turned off, the Pods'. */
export function tlsSecretName(o: Pick<Observation, 'spec' | 'pods'>): string | undefined {
  return o.spec.tls?.secretName ?? o.pods.find((p) => p.tlsSecret)?.tlsSecret;
}

/** A layout to build Pods in mid-transition: with the Secret, and marked so it names its bus. */
const midTransition = (o: Seen, layout: NodeTls['layout']): NodeTls => {
  const secretName = tlsSecretName(o);
  return { layout, ...(secretName ? { secretName } : {}), transition: true };
};

/** What the rolling update brings every Pod to; none while the bus is swept or a node is silent. */
export function rollTarget(o: Seen): NodeTls | undefined {
  const step = tlsTransition(o);
  if (step.kind === 'done') return finalTls(o.spec);
  return step.kind === 'roll' ? midTransition(o, step.layout) : undefined;
}

/** A new Pod joins on the bus the cluster runs. */
export function newPodTls(o: Seen): NodeTls {
  if (tlsTransition(o).kind === 'done') return finalTls(o.spec);
  return midTransition(o, layoutForNewPod(!!o.spec.tls, transitionPods(o)));
}

/** What the Pods' TLS means for the objects every node shares, read before the pass observes. */
export interface PodsTls {
  /** The TLS Secret the Pods mount. */
  mounted?: string;
  conf: ConfTls;
  /** Some Pod is not in the spec's final layout: a transition is under way. */
  transition: boolean;
}

export function podsTlsOf(spec: Observation['spec'], pods: readonly PodInfo[]): PodsTls {
  const layouts = pods.filter((p) => !p.deleting).map((p) => p.layout);
  const mounted = pods.find((p) => !p.deleting && p.tlsSecret)?.tlsSecret;
  const final = finalTls(spec).layout;
  return {
    ...(mounted ? { mounted } : {}),
    conf: { files: !!(spec.tls ?? mounted), bus: confBus(!!spec.tls, layouts) },
    transition: layouts.some((l) => l !== final),
  };
}
