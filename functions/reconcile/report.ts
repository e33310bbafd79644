// What a round reports: the status input from its last observation and what it did, the conditions
// only a pass can add (its reshard request, data re-covered empty), and the Events for engine
// actions. Pure.
import { CONDITION_TYPES, type RedisClusterStatus } from '../../shared/api/index.js';
import { clusterCondition, type EventReason } from '../../shared/api/conditions.js';
import { findCondition, setCondition, type Condition } from '../../shared/kube/conditions.js';
import { checkCluster } from '../../shared/redis/check.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { EngineAction } from '../../shared/redis/types.js';
import type { RoundWork } from './act.js';
import type { Shape } from './decide.js';
import { desiredNode, podEndpoint, type ClusterPicture, type Observation } from './observe.js';
import { claimsStep } from './claims.js';
import { rollSettled, withRollStatus, type RollState } from './roll.js';
import { computeStatus } from './status.js';

export const EVENT_REASON: Partial<Record<EngineAction['kind'], EventReason>> = {
  replicate: 'NodeAdded',
  failover: 'Failover',
  forget: 'NodeForgotten',
  'node-removed': 'NodeRemoved',
  'slots-recovered-empty': 'SlotsRecoveredEmpty',
};

/** ClaimsResized: False while a claim's class refuses to grow it; True again once it has grown (only if it was ever set). */
function claimsCondition(conditions: Condition[], o: Observation): Condition[] {
  const refused = claimsStep(o.spec, o.claims, { ...o.pass, round: 0, taken: new Set() })?.refused ?? [];
  const message = refused.length
    ? refused.map((r) => `${r.claim}: StorageClass ${r.storageClass || '(none)'} does not allow volume expansion`).join('; ')
    : `every claim asks for ${String(o.spec.persistence.size)}`;
  if (!refused.length && !findCondition(conditions, CONDITION_TYPES.ClaimsResized)) return conditions;
  const reason = refused.length ? 'ExpansionNotAllowed' : 'ClaimsAtSize';
  return setCondition(conditions, clusterCondition(CONDITION_TYPES.ClaimsResized, reason, message, o.generation));
}

/** The status the round's last observation gives, with the problems the health check adds. */
export function roundStatus(
  stored: RedisClusterStatus | undefined,
  o: Observation & { cluster: ClusterPicture },
  s: Shape,
  work: RoundWork,
  resharding: boolean,
  clusterName: string,
  roll?: RollState,
): RedisClusterStatus {
  const { cluster, spec } = o;
  const kept = new Set(s.plan.shards);
  const livePods = o.pods.filter((p) => !p.deleting && p.shard !== undefined && kept.has(p.shard));
  const members = [...cluster.reports.entries()].filter(([name]) => cluster.members.has(name)).map(([, r]) => r);
  const memberPods = livePods.filter((p) => p.ip && (cluster.members.has(p.name) || !cluster.reports.has(p.name)));
  const unreachable = memberPods.filter((p) => !cluster.reports.has(p.name)).map(podEndpoint);
  const problems = [...work.problems];
  if (s.formed && members.length) {
    problems.push(
      ...checkCluster(members, {
        nodes: memberPods.map(desiredNode),
        masters: spec.masters,
        replicasPerMaster: spec.replicas,
        unreachable,
      }),
    );
  }
  const { podsWanted } = s;
  const next = computeStatus(stored, {
    clusterName,
    generation: o.generation,
    ...(s.blocker ? { blocker: s.blocker } : {}),
    formed: s.formed,
    podsWanted,
    podsReady: livePods.filter((p) => p.ready).length,
    ...(cluster.members.size ? { view: cluster.memberView } : {}),
    podByEndpoint: new Map(o.pods.filter((p) => p.ip && !p.deleting).map((p) => [endpointKey(podEndpoint(p)), p.name])),
    masters: spec.masters,
    replicasPerMaster: spec.replicas,
    problems,
    resharding,
    scaling: s.wanted.length !== podsWanted || s.plan.surplus.length > 0,
    ...(roll && !rollSettled(roll) ? { updating: `${roll.updated}/${roll.total} Pods run the current spec` } : {}),
    ...(spec.paused ? { paused: true } : {}),
  });
  const withRoll = roll && s.formed ? withRollStatus(next, roll, o.generation) : next;
  withRoll.conditions = claimsCondition(withRoll.conditions ?? [], o);
  // Kept by later rounds, which start from the stored conditions.
  const recoveredEmpty = work.actions.filter((a) => a.kind === 'slots-recovered-empty');
  if (recoveredEmpty.length) {
    const message = recoveredEmpty.map((a) => a.message).join('; ');
    withRoll.conditions = setCondition(
      withRoll.conditions ?? [],
      clusterCondition(CONDITION_TYPES.DataLoss, 'SlotsRecoveredEmpty', message, o.generation),
    );
  }
  // Every node lost its data: reported while a person decides, and kept as history once an empty
  // cluster was formed.
  const lost = work.lost ?? s.lost;
  if (lost)
    withRoll.conditions = setCondition(
      withRoll.conditions ?? [],
      clusterCondition(CONDITION_TYPES.DataLoss, 'AllNodesLost', lost, o.generation),
    );
  return withRoll;
}

/** The Resharding condition of a pass that asked for a reshard: its claim until the reshard function reports. */
export function requestedCondition(conditions: Condition[], reason: string, generation: number): Condition | undefined {
  const claimed = setCondition(conditions, clusterCondition(CONDITION_TYPES.Resharding, 'Requested', reason, generation));
  return findCondition(claimed, CONDITION_TYPES.Resharding);
}
