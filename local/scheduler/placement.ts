// The placement decision, pure: a Pod, the nodes and the Pods already placed in, a node or the
// reasons no node fits out. Filters run in kube-scheduler's order (node unschedulable, taints,
// node selector and required node affinity, host ports, inter-pod affinity); the message counts each
// node under its first failing filter, as kube-scheduler does.
import { matchesLabelSelector, matchesNodeSelectorTerm, type LabelSelector, type NodeSelectorTerm } from '../apiserver/selectors.js';

export interface VirtualNode {
  name: string;
  address: string;
  labels: Record<string, string>;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface PlacementNode extends VirtualNode {
  unschedulable?: boolean;
  taints?: Taint[];
}

type Rec = Record<string, any>;

export interface PodLike {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: Rec;
  status?: Rec;
}

export type Placement = { node: string } | { node?: undefined; message: string; reasons: Record<string, number> };

export const REASON = {
  unschedulable: 'node(s) were unschedulable',
  selector: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  antiAffinity: "node(s) didn't match pod anti-affinity rules",
  existingAntiAffinity: "node(s) didn't satisfy existing pods anti-affinity rules",
  affinity: "node(s) didn't match pod affinity rules",
} as const;

interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  namespaceSelector?: LabelSelector;
  topologyKey: string;
}

interface WeightedTerm {
  weight: number;
  podAffinityTerm: PodAffinityTerm;
}

/** Ports a Pod holds on its node: every container port with host networking, else its hostPorts. */
export function hostPorts(pod: PodLike): string[] {
  const out: string[] = [];
  const hostNetwork = pod.spec?.hostNetwork === true;
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      const port = hostNetwork ? (p.hostPort ?? p.containerPort) : p.hostPort;
      if (port) out.push(`${p.protocol ?? 'TCP'}/${port}`);
    }
  }
  return out;
}

/** Placed Pods that still occupy their node. */
function active(pod: PodLike): boolean {
  return !!pod.spec?.nodeName && !['Succeeded', 'Failed'].includes(pod.status?.phase);
}

/** Namespace name → its labels, for terms with a namespaceSelector. */
export type NamespaceLabels = Record<string, Record<string, string> | undefined>;

/** The term's namespaces: those listed plus those its selector matches, else the owner's own. */
function inTermNamespaces(term: PodAffinityTerm, owner: PodLike, namespace: string, nsLabels: NamespaceLabels): boolean {
  const listed = term.namespaces ?? [];
  if (!listed.length && !term.namespaceSelector) return namespace === (owner.metadata.namespace ?? 'default');
  if (listed.includes(namespace)) return true;
  if (!term.namespaceSelector) return false;
  return matchesLabelSelector(nsLabels[namespace] ?? { 'kubernetes.io/metadata.name': namespace }, term.namespaceSelector, 'nothing');
}

function sameDomain(a: VirtualNode | undefined, b: VirtualNode, topologyKey: string): boolean {
  if (!a) return false;
  const va = a.labels[topologyKey];
  return va !== undefined && va === b.labels[topologyKey];
}

interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

/** The first NoSchedule/NoExecute taint of the node the Pod does not tolerate. */
function untoleratedTaint(pod: PodLike, node: PlacementNode): Taint | undefined {
  const tolerations: Toleration[] = pod.spec?.tolerations ?? [];
  const tolerates = (t: Taint) =>
    tolerations.some((tol) => {
      if (tol.effect && tol.effect !== t.effect) return false;
      if (tol.operator === 'Exists') return !tol.key || tol.key === t.key;
      return tol.key === t.key && (tol.value ?? '') === (t.value ?? '');
    });
  return (node.taints ?? []).find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(t));
}

function nodeSelectorFits(pod: PodLike, node: PlacementNode): boolean {
  for (const [k, v] of Object.entries((pod.spec?.nodeSelector ?? {}) as Record<string, string>)) {
    if (node.labels[k] !== v) return false;
  }
  const terms: NodeSelectorTerm[] | undefined =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms && terms.length && !terms.some((t) => matchesNodeSelectorTerm(node, t))) return false;
  return true;
}

/**
 * Picks a node for `pod` among `nodes`, given every other Pod (placed ones count; unplaced ones are
 * ignored). Among the nodes that fit, the best score wins: preferred node affinity and preferred
 * pod (anti-)affinity weights, then the fewest Pods, then the node order.
 */
export function placePod(pod: PodLike, nodes: PlacementNode[], pods: PodLike[], nsLabels: NamespaceLabels = {}): Placement {
  const termMatches = (term: PodAffinityTerm, owner: PodLike, candidate: PodLike): boolean =>
    inTermNamespaces(term, owner, candidate.metadata.namespace ?? 'default', nsLabels) &&
    matchesLabelSelector(candidate.metadata.labels, term.labelSelector, 'nothing');
  const self = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
  const placed = pods.filter((p) => active(p) && `${p.metadata.namespace ?? 'default'}/${p.metadata.name}` !== self);
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const nodeOf = (p: PodLike) => nodeByName.get(p.spec!.nodeName);
  const wanted = hostPorts(pod);
  const affinity: PodAffinityTerm[] = pod.spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  const antiAffinity: PodAffinityTerm[] = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];

  const reasons: Record<string, number> = {};
  const fits: PlacementNode[] = [];
  for (const node of nodes) {
    const reason = filter(node);
    if (reason) reasons[reason] = (reasons[reason] ?? 0) + 1;
    else fits.push(node);
  }

  function filter(node: PlacementNode): string | undefined {
    if (node.unschedulable && !(pod.spec?.tolerations ?? []).some((t: Toleration) => t.key === 'node.kubernetes.io/unschedulable')) {
      return REASON.unschedulable;
    }
    const taint = untoleratedTaint(pod, node);
    if (taint) return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
    if (!nodeSelectorFits(pod, node)) return REASON.selector;
    if (wanted.length) {
      const used = new Set(placed.filter((p) => p.spec!.nodeName === node.name).flatMap(hostPorts));
      if (wanted.some((p) => used.has(p))) return REASON.ports;
    }
    for (const term of affinity) {
      if (node.labels[term.topologyKey] === undefined) return REASON.affinity;
      const matching = placed.filter((p) => termMatches(term, pod, p));
      // The first Pod of a group that wants to be together may go anywhere.
      if (matching.length === 0 && termMatches(term, pod, pod)) continue;
      if (!matching.some((p) => sameDomain(nodeOf(p), node, term.topologyKey))) return REASON.affinity;
    }
    for (const term of antiAffinity) {
      if (placed.some((p) => termMatches(term, pod, p) && sameDomain(nodeOf(p), node, term.topologyKey))) return REASON.antiAffinity;
    }
    for (const p of placed) {
      const terms: PodAffinityTerm[] = p.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      if (terms.some((term) => termMatches(term, p, pod) && sameDomain(nodeOf(p), node, term.topologyKey)))
        return REASON.existingAntiAffinity;
    }
    return undefined;
  }

  if (fits.length === 0) {
    // kube-scheduler sorts the "<count> <reason>" strings themselves.
    const parts = Object.entries(reasons)
      .map(([reason, count]) => `${count} ${reason}`)
      .sort();
    return { message: `0/${nodes.length} nodes are available: ${parts.join(', ')}.`, reasons };
  }

  const preferredNode: { weight: number; preference: NodeSelectorTerm }[] =
    pod.spec?.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const preferredAffinity: WeightedTerm[] = pod.spec?.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const preferredAnti: WeightedTerm[] = pod.spec?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const score = (node: PlacementNode): number => {
    let s = 0;
    for (const p of preferredNode) if (matchesNodeSelectorTerm(node, p.preference)) s += p.weight;
    for (const w of preferredAffinity) {
      if (placed.some((p) => termMatches(w.podAffinityTerm, pod, p) && sameDomain(nodeOf(p), node, w.podAffinityTerm.topologyKey)))
        s += w.weight;
    }
    for (const w of preferredAnti) {
      if (placed.some((p) => termMatches(w.podAffinityTerm, pod, p) && sameDomain(nodeOf(p), node, w.podAffinityTerm.topologyKey)))
        s -= w.weight;
    }
    return s;
  };
  const load = (node: PlacementNode) => placed.filter((p) => p.spec!.nodeName === node.name).length;
  const ranked = fits
    .map((node, i) => ({ node, score: score(node), load: load(node), i }))
    .sort((a, b) => b.score - a.score || a.load - b.load || a.i - b.i);
  return { node: ranked[0]!.node.name };
}
