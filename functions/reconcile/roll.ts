// The rolling update, pure: which Pods run an older spec than the current one (their restart hash
// differs) and the next step that brings one of them to it. One Pod at a time and only while the
// cluster is otherwise healthy: replicas first, each back and in sync before the next; then each
// master hands its slots to its most caught-up replica (CLUSTER FAILOVER) and restarts as a
// replica. Everything is read from the cluster (hashes on Pods, roles in Redis), so a killed pass
// or a newer spec simply continues from what it finds.
//
// A shard of one master and one replica without persistence would have a single copy of its keys
// while either restarts. Such a roll surges instead, one shard at a time: the shard gets a Pod of
// the current spec first, which joins as a replica and syncs; then its old replica restarts, its
// master hands over, and its old master's Pod goes without a replacement. If no machine takes the
// extra Pod, the shard's Pods are marked and it rolls without one (a Warning says so).
import { checkCluster } from '../../shared/redis/check.js';
import type { ClusterProblem, Endpoint } from '../../shared/redis/types.js';
import { clusterCondition, CONDITION_TYPES, type RedisClusterStatus } from '../../shared/api/index.js';
import { setCondition } from '../../shared/kube/conditions.js';
import type { Shape } from './decide.js';
import { desiredNode, podEndpoint, type ClusterPicture, type Observation, type PodInfo } from './observe.js';
import { readyCounts } from './status.js';
import { restartHash } from './resources.js';
import { rollTarget } from './tls-step.js';

/** A node of the failover that precedes a master's restart. */
export interface RollNode {
  pod: string;
  endpoint: Endpoint;
  nodeId: string;
}

export type RollStep =
  /** The master of `shard` hands over to its most caught-up replica before its own restart. */
  | { kind: 'failover-for-update'; shard: number; master: RollNode; replica: RollNode }
  /** A replica (or a master that restarts with its data: no replicas, persistence) gets a new Pod. */
  | { kind: 'restart-for-update'; pod: string; shard: number; master: boolean }
  /** No machine takes `pod`, the shard's extra Pod: `mark` its Pods with `hash`, and it rolls without one. */
  | { kind: 'forgo-surge'; shard: number; pod: string; hash: string; mark: string[] };

/** The shard a roll surges. */
export interface Surge {
  shard: number;
  /** The restart hash the roll brings the Pods to. */
  hash: string;
  /** No machine took its extra Pod: it rolls without one. */
  forgone: boolean;
}

export interface RollState {
  /** The current spec's hash. */
  hash: string;
  /** Pods of the kept shards whose hash is the current one. */
  updated: number;
  total: number;
  /** Pods still to restart, by ordinal. */
  outdated: PodInfo[];
  /** Masters that cannot be restarted without losing their keys: no replica, no persistence. */
  stuck: PodInfo[];
}

export function rollState(o: Observation, cluster: ClusterPicture, s: Shape, hash: string): RollState {
  const outdated = s.wanted.filter((p) => p.restartHash !== hash).sort((a, b) => a.ordinal - b.ordinal);
  const noFailover = o.spec.replicas === 0 && !o.spec.persistence.enabled;
  // Out of every node the spec asks for, not the Pods there now: a Pod restarting is not yet updated.
  return {
    hash,
    updated: Math.min(s.wanted.length - outdated.length, o.spec.masters * (1 + o.spec.replicas)),
    total: o.spec.masters * (1 + o.spec.replicas),
    outdated,
    stuck: noFailover ? outdated.filter((p) => cluster.roles.masters.has(p.name)) : [],
  };
}

/**
 * The shard the roll surges: with one replica per master and no persistence, the lowest shard
 * that still has a Pod of an older spec. Read from the Pods alone, so the Pod plan can make room;
 * only while some node owns slots (a cluster that lost every node has no copy to keep).
 */
export function surgeOf(o: Pick<Observation, 'spec' | 'pods' | 'tlsBus'>, slotsAssigned: boolean): Surge | undefined {
  if (!slotsAssigned || o.spec.replicas !== 1 || o.spec.persistence.enabled) return undefined;
  const target = rollTarget(o);
  if (!target) return undefined;
  const hash = restartHash(o.spec, target);
  const outdated = o.pods.filter((p) => !p.deleting && p.shard !== undefined && p.restartHash !== hash);
  if (outdated.length === 0) return undefined;
  const shard = Math.min(...outdated.map((p) => p.shard!));
  return { shard, hash, forgone: outdated.some((p) => p.shard === shard && p.surgeForgone === hash) };
}

/** The check's problems, less the surging shard's extra replica, which the roll put there. */
export function withoutSurge(problems: ClusterProblem[], cluster: ClusterPicture, s: Shape): ClusterProblem[] {
  if (s.surge === undefined || s.surge.forgone) return problems;
  const shard = s.surge.shard;
  const ids = new Set(s.wanted.filter((p) => p.shard === shard).map((p) => cluster.reports.get(p.name)?.myId));
  return problems.filter((x) => x.code !== 'replica-excess' || !ids.has(x.nodeId));
}

/** Every Pod updated, or only masters that cannot be restarted remain: nothing more to do. */
export function rollSettled(r: RollState): boolean {
  return r.outdated.length === r.stuck.length;
}

/**
 * Formed, no reshard requested, running or paused, every Pod there, ready and joined, every slot
 * served by exactly `masters` masters and the health check clean: replicas linked and close to
 * their master's offset, no failing node left to forget.
 */
export function healthyForRoll(o: Observation, cluster: ClusterPicture, s: Shape): boolean {
  const { spec } = o;
  return (
    s.formed &&
    !s.blocker &&
    !o.reshard.running &&
    !o.reshard.requested &&
    !o.reshard.paused &&
    s.plan.create.length === 0 &&
    s.plan.surplus.length === 0 &&
    s.plan.shards.length === spec.masters &&
    o.pods.every((p) => !p.deleting) &&
    s.wanted.length === s.podsWanted &&
    s.wanted.every((p) => p.ready && cluster.members.has(p.name)) &&
    cluster.view.owners.every((owner) => owner !== undefined) &&
    readyCounts(cluster.view).slotOwners === spec.masters &&
    withoutSurge(
      checkCluster([...cluster.reports.values()], {
        nodes: s.wanted.map(desiredNode),
        masters: spec.masters,
        replicasPerMaster: spec.replicas,
        maxReplicaLag: MAX_REPLICA_LAG_BYTES,
      }),
      cluster,
      s,
    ).length === 0
  );
}

/** A replica further behind than this is still catching up: the next restart waits for it. */
export const MAX_REPLICA_LAG_BYTES = 1024 * 1024;

/** The next step of the roll, or none (nothing outdated, or the cluster is not healthy enough now). */
export function rollStep(o: Observation, cluster: ClusterPicture, s: Shape, r: RollState): RollStep | undefined {
  const taken = o.pass.taken;
  if (taken.has('failover-for-update') || taken.has('restart-for-update') || taken.has('forgo-surge')) return undefined;
  const surge = s.surge;
  const outdated = surge === undefined ? r.outdated : r.outdated.filter((p) => p.shard === surge.shard);
  if (surge && s.parked) {
    const { shard, hash } = surge;
    return { kind: 'forgo-surge', shard, pod: s.parked.name, hash, mark: outdated.map((p) => p.name) };
  }
  if (rollSettled(r) || !healthyForRoll(o, cluster, s)) return undefined;
  const isMaster = (p: PodInfo) => cluster.roles.masters.has(p.name);
  const replica = outdated.find((p) => !isMaster(p));
  if (replica) return { kind: 'restart-for-update', pod: replica.name, shard: replica.shard!, master: false };
  for (const master of outdated.filter(isMaster)) {
    if (r.stuck.includes(master)) continue;
    const candidates = replicasOf(cluster, s, master);
    if (candidates.length === 0) {
      // Its data is on its claim: it comes back as the same master with its slots.
      if (o.spec.persistence.enabled) return { kind: 'restart-for-update', pod: master.name, shard: master.shard!, master: true };
      continue;
    }
    const best = mostCaughtUp(cluster, candidates, r.hash);
    return { kind: 'failover-for-update', shard: master.shard!, master: rollNode(cluster, master), replica: rollNode(cluster, best) };
  }
  return undefined;
}

function rollNode(cluster: ClusterPicture, p: PodInfo): RollNode {
  return { pod: p.name, endpoint: podEndpoint(p), nodeId: cluster.reports.get(p.name)!.myId };
}

/** The Pods whose nodes replicate `master`'s node. */
function replicasOf(cluster: ClusterPicture, s: Shape, master: PodInfo): PodInfo[] {
  const masterId = cluster.reports.get(master.name)?.myId;
  return s.wanted.filter((p) => {
    const report = cluster.reports.get(p.name);
    return report !== undefined && masterId !== undefined && cluster.view.nodes.get(report.myId)?.masterId === masterId;
  });
}

/** Updated replicas first, then the highest replication offset, then the lowest ordinal. */
function mostCaughtUp(cluster: ClusterPicture, replicas: PodInfo[], hash: string): PodInfo {
  const offset = (p: PodInfo) => Number(cluster.reports.get(p.name)?.replication.slave_repl_offset ?? -1);
  return [...replicas].sort(
    (a, b) => Number(b.restartHash === hash) - Number(a.restartHash === hash) || offset(b) - offset(a) || a.ordinal - b.ordinal,
  )[0]!;
}

/** What a person reads: the progress, the RollingUpdate condition and, while it goes on, the phase. */
export function withRollStatus(status: RedisClusterStatus, r: RollState, generation: number): RedisClusterStatus {
  const progress = `${r.updated}/${r.total}`;
  let condition;
  if (r.outdated.length === 0)
    condition = clusterCondition(CONDITION_TYPES.RollingUpdate, 'Complete', `${progress} Pods run the current spec`, generation);
  else if (rollSettled(r))
    condition = clusterCondition(
      CONDITION_TYPES.RollingUpdate,
      'ReplicaNeeded',
      `${stuckMessage(r)}; set replicas >= 1 or enable persistence, or restart them by hand`,
      generation,
    );
  else condition = clusterCondition(CONDITION_TYPES.RollingUpdate, 'Updating', `${progress} Pods run the current spec`, generation);
  return {
    ...status,
    rollingUpdate: { updated: r.updated, total: r.total, progress },
    conditions: setCondition(status.conditions ?? [], condition),
  };
}

export function stuckMessage(r: RollState): string {
  const pods = r.stuck.map((p) => p.name).join(', ');
  return `${pods} ${r.stuck.length === 1 ? 'is a master' : 'are masters'} without replicas or persistence: a restart would lose ${r.stuck.length === 1 ? 'its' : 'their'} keys`;
}
