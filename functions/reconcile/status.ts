// The RedisCluster status from what one reconcile pass observed. Pure, and stable: the same
// observation gives the same status, so an unchanged cluster is never written (no event loop).
import {
  clusterCondition,
  CONDITION_TYPES,
  type BlockerReason,
  type ConditionReason,
  type ConditionType,
} from '../../shared/api/conditions.js';
import { deepEqual, selectorFor, type NodeStatus, type Phase, type RedisClusterStatus } from '../../shared/api/index.js';
import { isConditionTrue, setCondition } from '../../shared/kube/conditions.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { ClusterView } from '../../shared/redis/view.js';
import { formatRange } from '../../shared/redis/topology.js';
import type { ClusterProblem } from '../../shared/redis/types.js';

/** Why the operator cannot honour a spec the schema accepted (or the schema itself refused it). */
export interface Blocker {
  reason: BlockerReason;
  message: string;
}

export interface StatusFacts {
  clusterName: string;
  generation: number;
  blocker?: Blocker;
  /** Slots were assigned (the cluster was formed). */
  formed: boolean;
  podsWanted: number;
  podsReady: number;
  /** Nodes as the reachable nodes see them; undefined when no node was read. */
  view?: ClusterView;
  /** Pod name per node `ip:port`. */
  podByEndpoint: ReadonlyMap<string, string>;
  /** Slot-owning masters the spec asks for. */
  masters: number;
  replicasPerMaster: number;
  problems: readonly ClusterProblem[];
  /** A reshard was requested or is running. */
  resharding: boolean;
  /** Pods are being added or removed because the spec's counts changed. */
  scaling: boolean;
  /** A rolling update goes on: its progress, e.g. "4/6 Pods run the current spec". */
  updating?: string;
  /** spec.paused: nothing is changed. */
  paused?: boolean;
}

/** One entry per node the cluster knows, sorted by Pod then id; slot ranges of masters. */
export function nodeStatuses(view: ClusterView, podByEndpoint: ReadonlyMap<string, string>): NodeStatus[] {
  const out: NodeStatus[] = [];
  for (const n of view.nodes.values()) {
    // Handshakes and addressless entries (`:0`) are not nodes yet, or not any more.
    if ((n.handshakeBy > 0 && !n.report) || !n.ip || n.port <= 0) continue;
    const node: NodeStatus = {
      id: n.id,
      pod: podByEndpoint.get(endpointKey(n)) ?? '',
      ip: n.ip,
      port: n.port,
      role: n.role,
    };
    if (n.role === 'replica' && n.masterId) node.masterId = n.masterId;
    if (n.role === 'master' && n.slots.length > 0) node.slots = n.slots.map(formatRange);
    out.push(node);
  }
  return out.sort((a, b) => (a.pod || '~').localeCompare(b.pod || '~') || a.id.localeCompare(b.id));
}

function countSlots(view: ClusterView | undefined): number {
  return view ? view.owners.filter((o) => o !== undefined).length : 0;
}

/** Masters that own slots and answer, and the replicas of those that answer. */
export function readyCounts(view: ClusterView | undefined): { masters: number; replicas: number; slotOwners: number } {
  if (!view) return { masters: 0, replicas: 0, slotOwners: 0 };
  const owners = [...view.nodes.values()].filter((n) => n.role === 'master' && n.slots.length > 0);
  const live = new Set(owners.filter((n) => n.report).map((n) => n.id));
  const replicas = [...view.nodes.values()].filter((n) => n.report && n.role === 'replica' && n.masterId && live.has(n.masterId)).length;
  return { masters: live.size, replicas, slotOwners: owners.length };
}

// Codes and node ids, not the engine's free text: a message that changes with every read (offsets,
// timings) would make every pass write the status, and every write trigger another pass.
function summarize(problems: readonly ClusterProblem[]): string {
  const parts = [...new Set(problems.map((p) => (p.nodeId ? `${p.code} (${p.nodeId.slice(0, 8)})` : p.code)))].sort();
  return parts.length > 8 ? `${parts.slice(0, 8).join(', ')} and ${parts.length - 8} more` : parts.join(', ');
}

export const PAUSED_MESSAGE = 'spec.paused is true: nothing changes the nodes or their Pods until it is false';

const DEGRADING = new Set<ClusterProblem['code']>(['slots-uncovered', 'state-not-ok', 'unreachable', 'node-failing']);

/** The phase and conditions for an observation; `prev` keeps transition times of unchanged conditions. */
export function computeStatus(prev: RedisClusterStatus | undefined, obs: StatusFacts, now: Date = new Date()): RedisClusterStatus {
  const gen = obs.generation;
  let conditions = prev?.conditions ?? [];
  const set = <T extends ConditionType>(type: T, reason: ConditionReason<T>, message: string) => {
    conditions = setCondition(conditions, clusterCondition(type, reason, message, gen), now);
  };
  const counts = readyCounts(obs.view);
  const slots = countSlots(obs.view);
  const nodes = obs.view ? nodeStatuses(obs.view, obs.podByEndpoint) : (prev?.nodes ?? []);

  let phase: Phase;
  if (obs.blocker) {
    phase = obs.formed ? 'Degraded' : 'Failed';
    set(CONDITION_TYPES.Ready, obs.blocker.reason, obs.blocker.message);
    set(CONDITION_TYPES.Progressing, obs.blocker.reason, 'waiting for the spec to be fixed');
  } else if (!obs.formed && obs.paused) {
    phase = 'Paused';
    set(CONDITION_TYPES.Ready, 'Paused', `${obs.podsReady}/${obs.podsWanted} Pods ready; slots not yet assigned`);
    set(CONDITION_TYPES.Progressing, 'Paused', PAUSED_MESSAGE);
  } else if (!obs.formed) {
    phase = 'Creating';
    const message = `${obs.podsReady}/${obs.podsWanted} Pods ready; slots not yet assigned`;
    set(CONDITION_TYPES.Ready, 'Creating', message);
    set(CONDITION_TYPES.Progressing, 'Creating', message);
  } else {
    const degrading = obs.problems.filter((p) => DEGRADING.has(p.code));
    const healthy = obs.problems.length === 0 && obs.podsReady === obs.podsWanted && counts.masters === obs.masters;
    if (obs.paused) phase = 'Paused';
    else if (obs.resharding) phase = 'Resharding';
    else if (obs.updating && degrading.length === 0 && slots === 16384) phase = 'Updating';
    else if (healthy) phase = 'Ready';
    else if (degrading.length > 0 || slots < 16384) phase = 'Degraded';
    else if (obs.scaling) phase = 'Scaling';
    else phase = 'Healing';
    if (phase === 'Ready' || (phase === 'Paused' && healthy)) {
      const message = `${counts.masters} masters, ${counts.replicas} replicas, 16384 slots`;
      set(CONDITION_TYPES.Ready, 'ClusterReady', message);
      if (phase === 'Ready') set(CONDITION_TYPES.Progressing, 'Reconciled', message);
      else set(CONDITION_TYPES.Progressing, 'Paused', PAUSED_MESSAGE);
    } else if (phase === 'Updating') {
      set(CONDITION_TYPES.Ready, phase, obs.updating!);
      set(CONDITION_TYPES.Progressing, phase, obs.updating!);
    } else {
      const why = obs.problems.length
        ? summarize(obs.problems)
        : obs.podsReady !== obs.podsWanted
          ? `${obs.podsReady}/${obs.podsWanted} Pods ready`
          : `${counts.masters}/${obs.masters} masters own slots`;
      set(CONDITION_TYPES.Ready, phase, why);
      if (phase === 'Paused') set(CONDITION_TYPES.Progressing, phase, PAUSED_MESSAGE);
      else set(CONDITION_TYPES.Progressing, phase, why);
    }
  }
  if (obs.formed) {
    // Slots still assigned to a shard that is gone for good are not served by anyone.
    const lost = obs.problems.find((p) => p.code === 'slots-uncovered');
    if (lost) set(CONDITION_TYPES.SlotsAssigned, 'SlotsUncovered', lost.message);
    else set(CONDITION_TYPES.SlotsAssigned, slots === 16384 ? 'AllSlotsAssigned' : 'SlotsUncovered', `${slots}/16384 slots assigned`);
    const degrading = obs.problems.filter((p) => DEGRADING.has(p.code));
    if (degrading.length > 0 || slots < 16384)
      set(CONDITION_TYPES.Degraded, 'ClusterDegraded', summarize(degrading) || `${slots}/16384 slots assigned`);
    else set(CONDITION_TYPES.Degraded, 'ClusterHealthy', 'every slot is served');
  }

  const status: RedisClusterStatus = {
    phase,
    conditions,
    observedGeneration: gen,
    readyMasters: counts.masters,
    readyReplicas: counts.replicas,
    nodes,
    replicas: counts.masters,
    selector: selectorFor(obs.clusterName),
  };
  return status;
}

/**
 * Whether writing `next` would change what is stored. Only the fields reconcile writes count:
 * `reshard` and `lastScaleTime` belong to the reshard and scale functions and are never patched here.
 */
export function statusChanged(prev: RedisClusterStatus | undefined, next: RedisClusterStatus): boolean {
  const owned = Object.keys(next) as (keyof RedisClusterStatus)[];
  const before = Object.fromEntries(owned.filter((k) => prev?.[k] !== undefined).map((k) => [k, prev![k]]));
  return !deepEqual(JSON.parse(JSON.stringify(before)), JSON.parse(JSON.stringify(next)));
}

/** The Ready condition's status, for Degraded/Recovered Events. */
export function isReady(status: RedisClusterStatus | undefined): boolean {
  return isConditionTrue(status?.conditions, CONDITION_TYPES.Ready);
}
