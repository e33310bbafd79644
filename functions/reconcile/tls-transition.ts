// Turning TLS on or off on a live cluster (docs/security.md). A node with `tls-cluster yes` takes
// only TLS on its bus port, so nodes cannot switch one Pod at a time. The way through: every node
// serves both protocols (its port as now, the other protocol on its transition port), the bus is
// switched on every node in one sweep of CONFIG SET, then every node is rolled to the final layout.
// Pure: the Pods' layouts and the bus each node runs in, the next step out.

import { isDual as dual, type PortLayout } from '../../shared/tls/layout.js';

export interface TransitionPod {
  name: string;
  layout: PortLayout;
  /** The node's `tls-cluster` as it answered; none when it did not answer. */
  busTls?: boolean;
}

export type TransitionStep =
  /** Every node in the layout the spec wants, on the bus it wants. */
  | { kind: 'done' }
  /** Replace the Pods not in `layout`, one at a time, as a rolling update does. */
  | { kind: 'roll'; layout: PortLayout; pods: string[] }
  /** `CONFIG SET tls-replication` and `tls-cluster` to `tls` on these nodes, all in one pass. */
  | { kind: 'sweep'; tls: boolean; pods: string[] }
  /** Nothing safe to do until a node answers or a Pod appears. */
  | { kind: 'wait'; reason: string };

/** The bus a node in this layout starts on: a dual layout starts on the bus of its port's protocol. */
export function startingBus(layout: PortLayout): boolean {
  return layout === 'tls' || layout === 'tls+plain';
}

/** The final layout for a spec with (true) or without (false) TLS. */
export const finalLayout = (tls: boolean): PortLayout => (tls ? 'tls' : 'plain');

/** The layout that serves both protocols and starts on this bus. */
const dualLayout = (busTls: boolean): PortLayout => (busTls ? 'tls+plain' : 'plain+tls');

/** The bus every node runs in; undefined when they differ (a sweep half done) or one is unknown. */
function clusterBus(pods: readonly TransitionPod[]): boolean | undefined | 'mixed' {
  const buses = new Set(pods.map((p) => (dual(p.layout) ? p.busTls : startingBus(p.layout))));
  if (buses.has(undefined)) return undefined;
  return buses.size === 1 ? [...buses][0] : 'mixed';
}

/**
 * The next step toward `wantTls`. While the bus is what the spec wants, every Pod can go to the
 * final layout (dual and final nodes gossip on the same bus). Otherwise the bus must switch, which
 * only a cluster whose every node serves both protocols survives: first roll the others to the
 * dual layout of the bus they run, then sweep.
 */
export function planTlsTransition(wantTls: boolean, pods: readonly TransitionPod[]): TransitionStep {
  // No Pod yet: the first ones start in the final layout.
  if (pods.length === 0) return { kind: 'done' };
  const bus = clusterBus(pods);
  if (bus === undefined) {
    const silent = pods.filter((p) => dual(p.layout) && p.busTls === undefined).map((p) => p.name);
    return { kind: 'wait', reason: `tls-cluster unknown on ${silent.join(', ')}` };
  }
  const final = finalLayout(wantTls);
  if (bus === wantTls) {
    const stale = pods.filter((p) => p.layout !== final).map((p) => p.name);
    return stale.length === 0 ? { kind: 'done' } : { kind: 'roll', layout: final, pods: stale };
  }
  if (pods.every((p) => dual(p.layout))) {
    return { kind: 'sweep', tls: wantTls, pods: pods.filter((p) => p.busTls !== wantTls).map((p) => p.name) };
  }
  if (bus === 'mixed') {
    // Only a sweep mixes buses, and a sweep starts once every node is dual: a single-layout node
    // among them cannot gossip with half the cluster, and no step of this plan fixes that.
    return { kind: 'wait', reason: 'nodes run different buses and not every node serves both protocols' };
  }
  const layout = dualLayout(bus);
  return { kind: 'roll', layout, pods: pods.filter((p) => !dual(p.layout)).map((p) => p.name) };
}

/** The layout a new Pod (scale-out, a replaced node) starts in, so it joins the bus the cluster runs. */
export function layoutForNewPod(wantTls: boolean, pods: readonly TransitionPod[]): PortLayout {
  const bus = clusterBus(pods);
  if (pods.length === 0 || bus === wantTls) return finalLayout(wantTls);
  if (typeof bus === 'boolean') return dualLayout(bus);
  return dualLayout(!wantTls);
}

/**
 * The bus the shared redis.conf names: the one the cluster's single-layout nodes run (a node of
 * the old layout that restarts comes back on it), or the spec's once every node names its own.
 */
export function confBus(wantTls: boolean, layouts: readonly PortLayout[]): boolean {
  const single = layouts.find((l) => !dual(l));
  return single === undefined ? wantTls : startingBus(single);
}
