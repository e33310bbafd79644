// What one reconcile step looks at: the RedisCluster's facts for the pass, its Pods, the Lease
// when a reshard may hold it, and what the Pods' nodes say. Reads only; decide.ts chooses.
import type { V1Pod } from '@kubernetes/client-node';
import {
  ANNOTATION_RESTART_HASH,
  ANNOTATION_SURGE_FORGONE,
  ANNOTATION_TLS_HASH,
  CONDITION_TYPES,
  LABEL_SHARD,
  nodePorts,
  selectorFor,
  type DefaultedSpec,
  type RedisClusterStatus,
} from '../../shared/api/index.js';
import { leaseHolder, ordinalOf, type Kube, type ObjectRef } from '../../shared/kube/index.js';
import { findCondition, isConditionTrue } from '../../shared/kube/conditions.js';
import type { RedisPool } from '../../shared/redis/connection.js';
import { endpointKey } from '../../shared/redis/endpoint.js';
import type { DesiredNode, Endpoint, NodeReport } from '../../shared/redis/types.js';
import { readAuths } from '../../shared/redis/executor/password.js';
import type { NodeAuth } from '../../shared/redis/planner/password.js';
import { buildView, isFreshNode, readView, type ClusterView } from '../../shared/redis/view.js';
import { observeClaims, type ClaimInfo } from './claims.js';
import { reshardMayHoldLease, type StepKind } from './decide.js';
import type { ObservedPod, PodRoles } from './pods.js';
import type { TlsVerdict } from '../../shared/tls/certificate.js';
import type { Blocker } from './status.js';
import { isDual, podTls, type EndpointProtocols, type PortLayout } from '../../shared/tls/layout.js';

/** A reshard whose progress is older than this is taken as abandoned. */
export const RESHARD_STALE_MS = 5 * 60_000;
/** A requested reshard that has not started within this is requested again. */
export const RESHARD_REQUEST_GRACE_MS = 60_000;

/** A Pod as one pass sees it. */
export interface PodInfo extends ObservedPod {
  ready: boolean;
  ip?: string;
  port: number;
  busPort: number;
  node?: string;
  unschedulable?: string;
  /** creationTimestamp in ms; 0 when unknown. */
  createdAt: number;
  /** The spec hash the Pod was built from; none on a Pod made before hashes were written. */
  restartHash?: string;
  /** The hash of the TLS Secret the node last loaded; none without TLS. */
  tlsHash?: string;
  /** The roll (its restart hash) that gave up surging this Pod's shard (roll.ts). */
  surgeForgone?: string;
  /** What its ports serve (tls-transition.ts). */
  layout: PortLayout;
  /** The TLS Secret it mounts. */
  tlsSecret?: string;
}

export function podInfo(clusterName: string, spec: DefaultedSpec, pod: V1Pod): PodInfo | undefined {
  const name = pod.metadata?.name ?? '';
  const ordinal = ordinalOf(clusterName, name);
  if (ordinal === undefined) return undefined;
  const shardText = pod.metadata?.labels?.[LABEL_SHARD];
  const shard = shardText !== undefined && /^\d+$/.test(shardText) ? Number(shardText) : undefined;
  const conditions = pod.status?.conditions ?? [];
  const ready = pod.status?.phase === 'Running' && isConditionTrue(conditions, 'Ready') && !!pod.status?.podIP;
  const scheduled = findCondition(conditions, 'PodScheduled');
  const { port, busPort } = nodePorts(spec, ordinal);
  const created = pod.metadata?.creationTimestamp;
  const info: PodInfo = {
    name,
    ordinal,
    shard,
    deleting: !!pod.metadata?.deletionTimestamp,
    ready,
    port,
    busPort,
    createdAt: created ? new Date(created).getTime() : 0,
    layout: 'plain',
  };
  const tls = podTls(pod);
  if (tls.secretName) info.tlsSecret = tls.secretName;
  info.layout = tls.layout;
  const hash = pod.metadata?.annotations?.[ANNOTATION_RESTART_HASH];
  if (hash) info.restartHash = hash;
  const forgone = pod.metadata?.annotations?.[ANNOTATION_SURGE_FORGONE];
  if (forgone) info.surgeForgone = forgone;
  const tlsHash = pod.metadata?.annotations?.[ANNOTATION_TLS_HASH];
  if (tlsHash) info.tlsHash = tlsHash;
  if (pod.status?.podIP) info.ip = pod.status.podIP;
  if (pod.spec?.nodeName) info.node = pod.spec.nodeName;
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') info.unschedulable = scheduled.message ?? 'Unschedulable';
  return info;
}

export const desiredNode = (p: PodInfo): DesiredNode => ({
  name: p.name,
  ip: p.ip!,
  port: p.port,
  busPort: p.busPort,
  domain: p.node ?? p.ip!,
});
export const podEndpoint = (p: PodInfo): Endpoint => ({ ip: p.ip!, port: p.port });

/** What the nodes of the cluster's Pods say: the view, and each report by its Pod's name. */
export interface ClusterPicture {
  reports: Map<string, NodeReport>;
  view: ClusterView;
  /** The view of the joined nodes only: what the status lists. */
  memberView: ClusterView;
  /** Pods whose node has joined the cluster (is not a fresh node). */
  members: Set<string>;
  roles: PodRoles;
  /** Any slot assigned in any view. */
  anySlots: boolean;
}

export async function readPicture(pool: RedisPool, pods: PodInfo[]): Promise<ClusterPicture> {
  return pictureOf(pods, await readView(pool, pods.filter((p) => p.ip && !p.deleting).map(podEndpoint)));
}

/** The picture from the view of the Pods' nodes. */
export function pictureOf(pods: readonly PodInfo[], view: ClusterView): ClusterPicture {
  const { reports } = view;
  const withIp = pods.filter((p) => p.ip && !p.deleting);
  const byEndpoint = new Map(reports.map((r) => [endpointKey(r.address), r]));
  const byPod = new Map<string, NodeReport>();
  for (const p of withIp) {
    const r = byEndpoint.get(endpointKey(podEndpoint(p)));
    if (r) byPod.set(p.name, r);
  }
  const members = new Set<string>();
  const slotHolders = new Set<string>();
  const masters = new Set<string>();
  const synced = new Set<string>();
  for (const [name, r] of byPod) {
    if (isFreshNode(r)) continue;
    members.add(name);
    const node = view.nodes.get(r.myId);
    if (node?.role === 'master') masters.add(name);
    if (node?.role === 'replica' && r.replication.master_link_status === 'up' && r.replication.master_sync_in_progress !== '1')
      synced.add(name);
    if (node && node.slots.length > 0) slotHolders.add(name);
    // Any view that gives it slots (a stale one too) makes it a holder: never delete it.
    if (reports.some((x) => x.nodes.some((v) => v.id === r.myId && v.role === 'master' && v.slots.length > 0))) slotHolders.add(name);
  }
  const anySlots = view.owners.some((o) => o !== undefined);
  const memberView = buildView([...byPod.entries()].filter(([name]) => members.has(name)).map(([, r]) => r));
  return { reports: byPod, view, memberView, members, roles: { slotHolders, masters, synced }, anySlots };
}

/** The reshard function's state, as the status said when the pass began. */
export interface ReshardState {
  /** Planned or Running, and reporting progress recently (a silent one is abandoned). */
  running: boolean;
  /** Requested for this generation by an earlier pass and not started yet: the reshard function waits for the Lease. */
  requested: boolean;
  /** Stopped between chunks by spec.paused: asked for again once unpaused. */
  paused?: { mode: 'scale-out' | 'scale-in' };
}

export function reshardState(status: RedisClusterStatus | undefined, generation: number, now: number): ReshardState {
  const seen = Date.parse(status?.reshard?.updatedAt ?? status?.reshard?.startedAt ?? '');
  const running = (status?.reshard?.state === 'Running' || status?.reshard?.state === 'Planned') && !(now - seen > RESHARD_STALE_MS);
  const condition = findCondition(status?.conditions, CONDITION_TYPES.Resharding);
  const requested =
    condition?.status === 'True' &&
    condition.reason === 'Requested' &&
    condition.observedGeneration === generation &&
    now - Date.parse(condition.lastTransitionTime ?? '') < RESHARD_REQUEST_GRACE_MS;
  const paused =
    status?.reshard?.state === 'Paused' ? { mode: status.reshard.operation === 'Drain' ? 'scale-in' : 'scale-out' } : undefined;
  return { running, requested, ...(paused ? { paused: paused as NonNullable<ReshardState['paused']> } : {}) };
}

/** What stays true for a whole pass: the spec it works to and the status it started from. */
export interface PassFacts {
  spec: DefaultedSpec;
  generation: number;
  /** observedGeneration of the status the pass started from. */
  observedGeneration: number | undefined;
  /** The status the pass started from had SlotsAssigned: the cluster was formed. */
  formedBefore: boolean;
  reshard: ReshardState;
  /** A password Secret only a person can fix. */
  secretBlocker?: Blocker;
  /** spec.tls's Secret, checked: what the nodes must have loaded. */
  tls?: TlsVerdict;
  /** SHA-256 of spec.passwordSecret's password, when the operator logs in as its own user and can rotate it. */
  passwordHash?: string;
  startedAt: number;
}

/** What the pass itself has done so far, which the next step depends on. */
export interface PassMemory {
  round: number;
  /** The steps this round already took, each at most once. */
  taken: ReadonlySet<StepKind>;
  /** This pass holds the Lease. */
  lease: boolean;
  /** This pass asked for a reshard already: a scale-out asked early keeps that request. */
  reshardAsked: 'early' | 'reply' | undefined;
  /** Requests can be posted to the Broker outside the reply. */
  canEmit: boolean;
}

export interface Observation extends PassFacts {
  now: number;
  pods: PodInfo[];
  /** Another holder of the Lease, read only while a reshard runs with every Pod up. */
  leaseHolder?: string;
  /** What the nodes say; not read when a reshard holds the Lease. */
  cluster?: ClusterPicture;
  /** The nodes' claims, with persistence: a missing Pod comes back on its node's claim, and a claim
   * smaller than persistence.size grows. */
  claims?: ClaimInfo[];
  /** What each node's `default` user accepts, by endpointKey (undefined: no answer); read with passwordHash. */
  auth?: Map<string, NodeAuth | undefined>;
  /** `tls-cluster` of each node in a dual layout, by Pod (undefined: no answer). */
  tlsBus?: Map<string, boolean | undefined>;
  pass: PassMemory;
}

export async function listPods(kube: Kube, ref: ObjectRef, spec: DefaultedSpec): Promise<PodInfo[]> {
  const list = await kube.core.listNamespacedPod({ namespace: ref.namespace, labelSelector: selectorFor(ref.name) });
  return list.items.map((p) => podInfo(ref.name, spec, p)).filter((p): p is PodInfo => p !== undefined);
}

export interface ObserveContext {
  kube: Kube;
  pool: RedisPool;
  ref: ObjectRef;
  /** This process's Lease identity. */
  holder: string;
  /** Told which endpoints speak TLS each time the Pods are listed: the pool asks it. */
  protocols: EndpointProtocols;
}

/** The bus each dual-layout node runs, as it says (CONFIG GET tls-cluster). */
async function readTlsBus(pool: RedisPool, pods: readonly PodInfo[]): Promise<Map<string, boolean | undefined> | undefined> {
  const dual = pods.filter((p) => isDual(p.layout) && p.ip && !p.deleting);
  if (dual.length === 0) return undefined;
  const answers = await Promise.all(
    dual.map(async (p) => {
      const reply = (await pool.call(podEndpoint(p), 'CONFIG', 'GET', 'tls-cluster').catch(() => undefined)) as string[] | undefined;
      return [p.name, reply?.[1] === undefined ? undefined : reply[1] === 'yes'] as const;
    }),
  );
  return new Map(answers);
}

/** Pods, then the Lease when a reshard may hold it (nodes are then left unread), then the nodes. */
export async function observe(ctx: ObserveContext, facts: PassFacts, pass: PassMemory): Promise<Observation> {
  const pods = await listPods(ctx.kube, ctx.ref, facts.spec);
  ctx.protocols.learn(pods.filter((p) => p.ip).map((p) => ({ ...podEndpoint(p), layout: p.layout, terminating: p.deleting })));
  const claims = facts.spec.persistence.enabled ? await observeClaims(ctx.kube, ctx.ref, facts.spec) : undefined;
  const seen: Observation = { ...facts, now: Date.now(), pods, pass, ...(claims ? { claims } : {}) };
  if (reshardMayHoldLease(facts, pods, pass)) {
    const holder = await leaseHolder(ctx.kube, ctx.ref);
    if (holder !== undefined && holder !== ctx.holder) return { ...seen, leaseHolder: holder };
  }
  const cluster = await readPicture(ctx.pool, pods);
  const tlsBus = await readTlsBus(ctx.pool, pods);
  const read = { ...seen, cluster, ...(tlsBus ? { tlsBus } : {}) };
  if (!facts.passwordHash) return read;
  return { ...read, auth: await readAuths(ctx.pool, pods.filter((p) => p.ip && !p.deleting).map(podEndpoint)) };
}
