// The next step of a reconcile pass, from one observation. Pure: no I/O, no clock but the
// observation's. A round takes the steps in this order, each at most once: Pods, the Lease, then
// form, or heal, live settings, placement, surplus replicas and the masters' count.
import type { CreatePlan, DesiredNode, Endpoint } from '../../shared/redis/types.js';
import { checkCluster } from '../../shared/redis/check.js';
import { splitSlots } from '../../shared/redis/planner/create.js';
import type { ShardToPlace } from '../../shared/redis/executor/place.js';
import {
  desiredNode,
  podEndpoint,
  type ClusterPicture,
  type Observation,
  type PassFacts,
  type PassMemory,
  type PodInfo,
} from './observe.js';
import { claimsStep } from './claims.js';
import { drainedShards, planPods, type PodPlan, type PodToCreate } from './pods.js';
import { wholeClusterLoss } from './restart.js';
import { readyCounts, type Blocker } from './status.js';
import { primaryStep } from './balance.js';
import { restartHash, type ConfTls, type NodeTls } from './resources.js';
import { healthyForRoll, rollSettled, rollState, rollStep, surgeOf, type RollStep, type Surge } from './roll.js';
import { newPodTls, podsTlsOf, rollTarget, tlsTransition } from './tls-step.js';
import { planTlsReload, type TlsReload } from './tls.js';
import { rotationPending, rotationStep } from './rotation.js';

/** How long a new Pod may take to start and join before a reshard goes ahead without it. */
export const POD_START_GRACE_MS = 60_000;
/** Only a Pod younger than this is waited for: an older one that does not answer is broken, not starting. */
export const NEW_POD_ANSWER_GRACE_MS = 30_000;

/** A node that leaves the cluster before its Pod is deleted; without nodeId it never joined. */
export interface NodeToRemove {
  pod: string;
  nodeId?: string;
  master: boolean;
}

/** The modes of the reshard requests a pass makes. */
export type ReshardMode = 'scale-out' | 'scale-in';

export type Step =
  /** A reshard runs with the Lease and every Pod is up: answer before reading any node. */
  | { kind: 'busy'; holder: string }
  /** `tls`: what the new Pods' ports serve; `conf`: the redis.conf TLS lines they start with. */
  | { kind: 'create-pods'; pods: PodToCreate[]; tls: NodeTls; conf: ConfTls }
  /** persistence.size grew: claims to grow, and claims whose StorageClass does not allow it. */
  | { kind: 'grow-claims'; size: string; grow: string[]; refused: { claim: string; storageClass: string }[] }
  /** A spec or Secret a person must fix, or Pods no node can take: no change to Redis. */
  | { kind: 'blocked'; blocker: Blocker }
  /** A reshard was requested or runs and no Pod waits to be placed: its function needs the Lease. */
  | { kind: 'leave-to-reshard'; blocker?: Blocker }
  | { kind: 'take-lease' }
  /** `lost`: an empty cluster formed again in place of one whose every node lost its data. */
  | { kind: 'form'; nodes: DesiredNode[]; plan: CreatePlan; masters: number; replicas: number; lost?: string }
  /** `leaving`: nodes whose Pods are being deleted. */
  | { kind: 'heal'; nodes: DesiredNode[]; leaving: Endpoint[] }
  | { kind: 'apply-settings'; endpoints: Endpoint[] }
  /** spec.acl.users onto every node of a formed cluster, with or without the Lease (ACL changes no topology). */
  | { kind: 'apply-acl'; endpoints: Endpoint[] }
  /** spec.passwordSecret changed: the default user's password is switched on these nodes (rotation.ts). */
  | { kind: 'rotate-password'; endpoints: Endpoint[] }
  /** TLS turned on or off, every node serving both protocols: the bus switches on these nodes. */
  | { kind: 'sweep-tls'; tls: boolean; endpoints: Endpoint[] }
  /** The TLS Secret changed: these nodes re-read their certificate files. */
  | { kind: 'reload-tls'; reload: TlsReload; nodes: { pod: string; endpoint: Endpoint }[] }
  | { kind: 'place'; seed?: Endpoint; shards: ShardToPlace[]; waiting: number[] }
  | { kind: 'remove-surplus'; nodes: NodeToRemove[]; endpoints: Endpoint[] }
  /** Every new master joined, or masters are to go: the reply asks for the reshard. */
  | { kind: 'request-reshard'; mode: ReshardMode; masters: number; reason: string }
  /** New shards' Pods are starting: ask now, outside the reply, so both start together. */
  | { kind: 'request-reshard-early'; masters: number; reason: string }
  | { kind: 'remove-drained'; shards: { shard: number; nodes: NodeToRemove[] }[]; endpoints: Endpoint[] }
  /** An idle cluster whose masters pile up on a machine: one graceful failover spreads them (balance.ts). */
  | { kind: 'move-primary'; replica: Endpoint; endpoints: Endpoint[]; message: string }
  /** No Pod is ready, or not every Pod of an unformed cluster: nothing to do on Redis yet. */
  | { kind: 'waiting-for-pods' }
  /** Already as desired: observed only, no Lease. */
  | { kind: 'in-shape' }
  /** With the Lease, this round did what it could. */
  | { kind: 'round-done' }
  /** spec.paused: observed only, nothing changed. */
  | { kind: 'paused' }
  | RollStep;

export type StepKind = Step['kind'];

/** Steps that end the round: the status is written, then the pass answers or looks again. */
export type RoundEnd = Extract<Step, { kind: 'blocked' | 'waiting-for-pods' | 'in-shape' | 'round-done' | 'paused' }>;
/** Steps the pass answers with at once. */
export type Answer = Extract<Step, { kind: 'busy' | 'leave-to-reshard' }>;
export type ActionStep = Exclude<Step, RoundEnd | Answer>;

export function endsRound(step: Step): step is RoundEnd {
  return (
    step.kind === 'blocked' ||
    step.kind === 'waiting-for-pods' ||
    step.kind === 'in-shape' ||
    step.kind === 'round-done' ||
    step.kind === 'paused'
  );
}

/**
 * A running reshard holds the Lease and every Pod is up: nothing may change Redis until it is done
 * (its completion brings a pass), and reading every node for each of its progress writes would only
 * slow it down. Then the Lease is read before any node.
 */
export function reshardMayHoldLease(facts: PassFacts, pods: readonly PodInfo[], pass: PassMemory): boolean {
  const perShard = 1 + facts.spec.replicas;
  return (
    pass.round === 0 && facts.reshard.running && pods.length === facts.spec.masters * perShard && pods.every((p) => p.ready && !p.deleting)
  );
}

/** The create plan from the shards: the master of shard s is its lowest ordinal Pod. */
export function shardCreatePlan(shards: { shard: number; pods: string[] }[]): CreatePlan {
  const ranges = splitSlots(shards.length);
  return {
    masters: shards.map((s, i) => ({ node: s.pods[0]!, slots: [ranges[i]!] })),
    replicas: shards.flatMap((s) => s.pods.slice(1).map((node) => ({ node, masterNode: s.pods[0]! }))),
  };
}

/** What the observation says about the shape of the cluster; shared by decide and the status. */
export interface Shape {
  formed: boolean;
  plan: PodPlan;
  /** Live Pods of the kept shards, less a surge Pod no machine can take. */
  wanted: PodInfo[];
  /** How many Pods `wanted` holds once every one is there. */
  podsWanted: number;
  /** The shard a rolling update surges (roll.ts). */
  surge?: Surge;
  /** The surging shard's extra Pod, which no machine takes. */
  parked?: PodInfo;
  blocker?: Blocker;
  /** Every node came back without its data (restart.ts): what happened, for DataLoss and the Warning. */
  lost?: string;
}

export function shapeOf(o: Observation, cluster: ClusterPicture): Shape {
  const formed = o.formedBefore || cluster.anySlots;
  const surge = surgeOf(o, cluster.anySlots);
  const extra = surge && !surge.forgone ? surge.shard : undefined;
  const plan = planPods({
    masters: o.spec.masters,
    replicas: o.spec.replicas,
    pods: o.pods,
    roles: cluster.roles,
    formed,
    members: cluster.members,
    ...(o.claims ? { claims: o.claims } : {}),
    ...(extra !== undefined ? { surge: extra } : {}),
    reserved: deadMasterOrdinals(o, cluster),
  });
  const kept = new Set(plan.shards);
  const live = o.pods.filter((p) => p.shard !== undefined && kept.has(p.shard) && !p.deleting);
  // A surge no machine takes is set aside until the roll gives it up.
  const parked = extra === undefined ? undefined : parkedSurge(live, extra, 1 + o.spec.replicas);
  const wanted = live.filter((p) => p !== parked);
  const podsWanted = plan.shards.length * (1 + o.spec.replicas) + (extra !== undefined && kept.has(extra) && !parked ? 1 : 0);
  const unschedulable = o.pods.find((p) => p.unschedulable && p !== parked);
  const lost = formed ? wholeClusterLoss(o, cluster, wanted, podsWanted) : undefined;
  const blocker =
    o.secretBlocker ??
    (unschedulable
      ? { reason: 'Unschedulable', message: `Pod ${unschedulable.name} cannot be placed: ${unschedulable.unschedulable}` }
      : lost?.blocker);
  // Allowed to lose the data, the cluster is formed again as a new one is.
  return {
    formed: formed && !lost?.formAgain,
    plan,
    wanted,
    podsWanted,
    ...(surge ? { surge } : {}),
    ...(parked ? { parked } : {}),
    ...(blocker ? { blocker } : {}),
    ...(lost ? { lost: lost.message } : {}),
  };
}

/** The ordinals of masters that own slots and do not answer: their Pods died with them. */
function deadMasterOrdinals(o: Observation, cluster: ClusterPicture): Set<number> {
  const out = new Set<number>();
  for (const n of cluster.view.nodes.values())
    if (n.role === 'master' && n.slots.length > 0 && !n.report && n.port >= o.spec.basePort) out.add(n.port - o.spec.basePort);
  return out;
}

/** The surging shard's Pod beyond 1 + replicas that no machine can take, if any. */
function parkedSurge(live: readonly PodInfo[], surge: number, perShard: number): PodInfo | undefined {
  const inShard = live.filter((p) => p.shard === surge);
  if (inShard.length <= perShard) return undefined;
  return inShard.filter((p) => p.unschedulable).sort((a, b) => b.ordinal - a.ordinal)[0];
}

/** Formed, this generation observed, every Pod joined and the health check clean: no Lease needed. */
function inShape(o: Observation, cluster: ClusterPicture, s: Shape): boolean {
  const { spec } = o;
  return (
    s.formed &&
    o.generation === o.observedGeneration &&
    !s.blocker &&
    s.plan.create.length === 0 &&
    s.plan.surplus.length === 0 &&
    s.plan.shards.length === spec.masters &&
    s.wanted.length === s.podsWanted &&
    s.wanted.every((p) => p.ready && cluster.members.has(p.name)) &&
    readyCounts(cluster.view).slotOwners === spec.masters &&
    checkCluster([...cluster.reports.values()], {
      nodes: s.wanted.map(desiredNode),
      masters: spec.masters,
      replicasPerMaster: spec.replicas,
    }).length === 0 &&
    rollSettled(rollState(o, cluster, s, restartHash(spec))) &&
    !rotationPending(o)
  );
}

/** A reshard was requested or runs, and no Pod is to be created, removed or placed. */
function reshardOnly(o: Observation, cluster: ClusterPicture, s: Shape): boolean {
  return (
    (o.reshard.running || o.reshard.requested) &&
    s.plan.create.length === 0 &&
    s.plan.surplus.length === 0 &&
    s.wanted.every((p) => p.ready && cluster.members.has(p.name))
  );
}

export function decide(o: Observation): Step {
  if (o.leaseHolder !== undefined || !o.cluster) return { kind: 'busy', holder: o.leaseHolder ?? '' };
  if (o.spec.paused) return { kind: 'paused' };
  const cluster = o.cluster;
  const s = shapeOf(o, cluster);
  const taken = o.pass.taken;
  if (!o.secretBlocker && s.plan.create.length > 0 && !taken.has('create-pods'))
    return { kind: 'create-pods', pods: s.plan.create, tls: newPodTls(o), conf: podsTlsOf(o.spec, o.pods).conf };
  if (!o.pass.lease && reshardOnly(o, cluster, s)) return { kind: 'leave-to-reshard', ...(s.blocker ? { blocker: s.blocker } : {}) };
  if (s.blocker) return { kind: 'blocked', blocker: s.blocker };
  const grow = claimsStep(o.spec, o.claims, o.pass);
  if (grow) return grow;
  const reload = taken.has('reload-tls') ? undefined : reloadStep(o);
  if (reload) return reload;
  if (o.spec.acl && s.formed && cluster.members.size > 0 && !taken.has('apply-acl'))
    return { kind: 'apply-acl', endpoints: o.pods.filter((p) => p.ip && !p.deleting).map(podEndpoint) };
  if (!o.pass.lease) {
    if (inShape(o, cluster, s)) return primaryStep(o, cluster) ? { kind: 'take-lease' } : { kind: 'in-shape' };
    return s.wanted.some((p) => p.ready) ? { kind: 'take-lease' } : { kind: 'waiting-for-pods' };
  }
  // A cluster formed this round is healed and filled from the next one on.
  if (taken.has('form')) return { kind: 'round-done' };
  if (!s.formed) return formStep(o, s) ?? { kind: 'waiting-for-pods' };
  return (
    healStep(o, cluster) ??
    rotationStep(o) ??
    placeStep(o, cluster, s) ??
    surplusStep(o, cluster, s) ??
    mastersStep(o, cluster, s) ??
    resumeReshardStep(o) ??
    tlsStep(o, cluster, s) ??
    balanceStep(o, cluster, s) ?? { kind: 'round-done' }
  );
}

/**
 * The rolling update, to the spec or to the TLS transition's next layout; or, once every node
 * serves both protocols, the sweep that switches the bus.
 */
function tlsStep(o: Observation, cluster: ClusterPicture, s: Shape): Step | undefined {
  const transition = tlsTransition(o);
  if (transition.kind === 'sweep') {
    if (o.pass.taken.has('sweep-tls') || !healthyForRoll(o, cluster, s)) return undefined;
    const byName = new Map(o.pods.map((p) => [p.name, p]));
    return { kind: 'sweep-tls', tls: transition.tls, endpoints: transition.pods.map((name) => podEndpoint(byName.get(name)!)) };
  }
  const target = rollTarget(o);
  return target ? rollStep(o, cluster, s, rollState(o, cluster, s, restartHash(o.spec, target))) : undefined;
}

/** A reshard spec.paused stopped between chunks: asked for again, from where the slots are now. */
function resumeReshardStep(o: Observation): Step | undefined {
  if (!o.reshard.paused || o.reshard.requested || o.pass.taken.has('request-reshard')) return undefined;
  return {
    kind: 'request-reshard',
    mode: o.reshard.paused.mode,
    masters: o.spec.masters,
    reason: 'resuming the reshard spec.paused stopped',
  };
}

/** In shape (so no roll pending) and idle: a machine holding more masters than it must gives one back (balance.ts). */
function balanceStep(o: Observation, cluster: ClusterPicture, s: Shape): Step | undefined {
  return !o.pass.taken.has('move-primary') && inShape(o, cluster, s) ? primaryStep(o, cluster) : undefined;
}

/** Every shard has all its Pods, ready: form with shard s's lowest ordinal Pod as its master. */
function formStep(o: Observation, s: Shape): Step | undefined {
  const perShard = 1 + o.spec.replicas;
  const shards = s.plan.shards.map((shard) => ({
    shard,
    pods: s.wanted.filter((p) => p.shard === shard).sort((a, b) => a.ordinal - b.ordinal),
  }));
  if (!shards.every((x) => x.pods.length === perShard && x.pods.every((p) => p.ready))) return undefined;
  return {
    kind: 'form',
    nodes: shards.flatMap((x) => x.pods.map(desiredNode)),
    plan: shardCreatePlan(shards.map((x) => ({ shard: x.shard, pods: x.pods.map((p) => p.name) }))),
    masters: o.spec.masters,
    replicas: o.spec.replicas,
    ...(s.lost ? { lost: s.lost } : {}),
  };
}

/** The nodes to reload a changed TLS Secret: any ready Pod, with or without the Lease (no topology changes). */
function reloadStep(o: Observation): Step | undefined {
  // Mid-transition a node's TLS may be on its second port; each new Pod mounts the Secret as it is.
  if (tlsTransition(o).kind !== 'done') return undefined;
  const reload = planTlsReload(
    o.tls,
    o.pods.filter((p) => p.ip),
  );
  if (!reload) return undefined;
  const byName = new Map(o.pods.map((p) => [p.name, p]));
  return { kind: 'reload-tls', reload, nodes: reload.pods.map((pod) => ({ pod, endpoint: podEndpoint(byName.get(pod)!) })) };
}

/** Heal (not while a reshard runs: it owns the open slots), then the settings running nodes can take. */
function healStep(o: Observation, cluster: ClusterPicture): Step | undefined {
  const taken = o.pass.taken;
  if (!taken.has('heal') && !taken.has('apply-settings') && !o.reshard.running && cluster.members.size > 0) {
    return {
      kind: 'heal',
      nodes: o.pods.filter((p) => p.ip && !p.deleting).map(desiredNode),
      leaving: o.pods.filter((p) => p.ip && p.deleting).map(podEndpoint),
    };
  }
  const endpoints = [...cluster.reports.entries()].filter(([name]) => cluster.members.has(name)).map(([, r]) => r.address);
  if (!taken.has('apply-settings') && endpoints.length > 0) return { kind: 'apply-settings', endpoints };
  return undefined;
}

/**
 * New shards get their lowest ordinal Pod joined as an empty master; fresh Pods of a shard whose
 * master is known become its replicas. A Pod that has an address but does not answer yet, and was
 * created a moment ago, is waited for briefly by the engine.
 */
/** Its node is a master owning slots, as the cluster's view says. */
function ownsSlots(cluster: ClusterPicture, p: PodInfo): boolean {
  const id = cluster.reports.get(p.name)?.myId;
  return (cluster.view.nodes.get(id ?? '')?.slots.length ?? 0) > 0;
}

export function placement(
  o: Observation,
  cluster: ClusterPicture,
  wanted: readonly PodInfo[],
  shards: readonly number[],
): { shards: ShardToPlace[]; waiting: number[] } {
  const joined = new Set(wanted.filter((p) => cluster.members.has(p.name)).map((p) => p.shard));
  const out: ShardToPlace[] = [];
  const waiting: number[] = [];
  for (const shard of shards) {
    const inShard = wanted.filter((p) => p.shard === shard).sort((a, b) => a.ordinal - b.ordinal);
    const members = inShard.filter((p) => cluster.members.has(p.name));
    // A node that answers is placed at once: its Pod turns Ready on the next readiness probe, a
    // TCP check that says no more than the answer already did.
    const candidates = inShard.filter(
      (p) =>
        p.ip &&
        !p.deleting &&
        !cluster.members.has(p.name) &&
        (cluster.reports.has(p.name) || o.now - p.createdAt < NEW_POD_ANSWER_GRACE_MS),
    );
    const isMaster = (p: PodInfo) => cluster.roles.masters.has(p.name);
    const existing = members.find((p) => isMaster(p) && ownsSlots(cluster, p)) ?? members.find(isMaster);
    // Met but never made a replica (a pass cut short between MEET and REPLICATE): a master that
    // owns nothing, holds no key and is not its shard's master.
    const stranded =
      existing && ownsSlots(cluster, existing)
        ? members.filter(
            (p) => p !== existing && isMaster(p) && !p.deleting && !ownsSlots(cluster, p) && cluster.reports.get(p.name)?.keys === 0,
          )
        : [];
    if (candidates.length === 0 && stranded.length === 0) continue;
    // Only while fewer shards than masters have joined: a shard left over from a drain never rejoins.
    const newShard = !existing && members.length === 0 && joined.size < o.spec.masters;
    if (newShard) joined.add(shard);
    else if (!existing) {
      waiting.push(shard);
      continue;
    }
    const toPlace = (p: PodInfo) => {
      const report = cluster.reports.get(p.name);
      return { name: p.name, endpoint: podEndpoint(p), busPort: p.busPort, ...(report ? { report } : {}) };
    };
    const nodes = candidates.map(toPlace);
    const master = existing && {
      name: existing.name,
      id: cluster.reports.get(existing.name)!.myId,
      endpoint: podEndpoint(existing),
      busPort: existing.busPort,
    };
    out.push({ shard, ...(master ? { master } : {}), nodes, ...(stranded.length ? { stranded: stranded.map(toPlace) } : {}) });
  }
  return { shards: out, waiting };
}

function placeStep(o: Observation, cluster: ClusterPicture, s: Shape): Step | undefined {
  if (o.pass.taken.has('place')) return undefined;
  const members = [...cluster.reports.entries()].filter(([n]) => cluster.members.has(n)).map(([, r]) => r);
  const seed =
    members.find((r) => cluster.view.nodes.get(r.myId)?.role === 'master' && (cluster.view.nodes.get(r.myId)?.slots.length ?? 0) > 0) ??
    members[0];
  // Taken every round, even with nothing to place: it is where a lost Lease ends the pass.
  if (!seed) return { kind: 'place', shards: [], waiting: [] };
  return { kind: 'place', seed: seed.address, ...placement(o, cluster, s.wanted, s.plan.shards) };
}

/** Surplus replicas (replicas lowered): out of the cluster first, then the Pod. */
function surplusStep(o: Observation, cluster: ClusterPicture, s: Shape): Step | undefined {
  if (o.pass.taken.has('remove-surplus')) return undefined;
  const nodes = s.plan.surplus
    .filter((name) => !cluster.roles.slotHolders.has(name) && !cluster.roles.masters.has(name))
    .map((pod) => nodeToRemove(cluster, pod));
  if (nodes.length === 0) return undefined;
  return { kind: 'remove-surplus', nodes, endpoints: o.pods.filter((p) => p.ip).map(podEndpoint) };
}

function nodeToRemove(cluster: ClusterPicture, pod: string): NodeToRemove {
  const report = cluster.reports.get(pod);
  const nodeId = report && cluster.members.has(pod) ? report.myId : undefined;
  return { pod, master: cluster.roles.masters.has(pod), ...(nodeId ? { nodeId } : {}) };
}

/** Masters: ask for a reshard, or remove the shards a reshard has drained. */
function mastersStep(o: Observation, cluster: ClusterPicture, s: Shape): Step | undefined {
  const { taken } = o.pass;
  const counts = readyCounts(cluster.view);
  const masters = o.spec.masters;
  if (o.reshard.running || counts.slotOwners === 0) return undefined;
  // MIGRATE dials the target with the source's bus setting: no moving keys while the nodes differ.
  if (tlsTransition(o).kind !== 'done') return undefined;
  if (taken.has('request-reshard') || taken.has('request-reshard-early') || taken.has('remove-drained')) return undefined;
  const reason = `masters ${counts.slotOwners} -> ${masters}`;
  if (counts.slotOwners < masters) {
    // Every new master joined, and no Pod that is still starting left to join: the reshard and a
    // later pass placing that Pod would otherwise take turns with the Lease. A Pod that does not
    // come up within a minute does not hold the reshard back.
    const slotShards = new Set(s.wanted.filter((p) => cluster.roles.masters.has(p.name)).map((p) => p.shard));
    const starting = s.wanted.filter((p) => !cluster.members.has(p.name) && o.now - p.createdAt < POD_START_GRACE_MS);
    if (s.plan.shards.every((x) => slotShards.has(x)) && starting.length === 0)
      return { kind: 'request-reshard', mode: 'scale-out', masters, reason };
    // The reshard function starts meanwhile and waits for this pass's Lease, released once every new Pod has joined.
    if (!o.pass.reshardAsked && !o.reshard.requested && o.pass.canEmit) return { kind: 'request-reshard-early', masters, reason };
    return undefined;
  }
  if (counts.slotOwners > masters) return { kind: 'request-reshard', mode: 'scale-in', masters, reason };
  if (counts.masters !== masters) return undefined;
  const drained = drainedShards({ masters, slotOwners: counts.slotOwners, pods: s.wanted, roles: cluster.roles, members: cluster.members });
  if (drained.length === 0) return undefined;
  const removalOrder = (a: PodInfo, b: PodInfo) => Number(cluster.roles.masters.has(a.name)) - Number(cluster.roles.masters.has(b.name));
  return {
    kind: 'remove-drained',
    // Its replicas leave first, then its empty master.
    shards: drained.map((shard) => ({
      shard,
      nodes: o.pods
        .filter((p) => p.shard === shard)
        .sort(removalOrder)
        .map((p) => nodeToRemove(cluster, p.name)),
    })),
    endpoints: o.pods.filter((p) => p.ip).map(podEndpoint),
  };
}
