// Which Pods a cluster needs: the shards it keeps, the Pods to create in them and the surplus Pods
// that may go. Pure: observed Pods and what Redis says about them in, decisions out.
import type { ClaimInfo } from './claims.js';

export interface ObservedPod {
  name: string;
  ordinal: number;
  /** From the shard label; undefined when the label is missing or not a number. */
  shard: number | undefined;
  /** deletionTimestamp is set: still holds its name and ordinal, no longer counts. */
  deleting: boolean;
}

/** What Redis says about the Pods, by Pod name. */
export interface PodRoles {
  /** Pods whose node owns slots in some view. */
  slotHolders: ReadonlySet<string>;
  /** Pods whose node is a master by its own word (with or without slots). */
  masters: ReadonlySet<string>;
  /** Pods whose node is a replica with its link up and no sync in progress: a copy of its shard. */
  synced?: ReadonlySet<string>;
}

export interface PodPlanInput {
  masters: number;
  replicas: number;
  pods: readonly ObservedPod[];
  roles: PodRoles;
  /** Whether slots have been assigned; before that the shards are simply 0..masters-1. */
  formed: boolean;
  /** Shards already drained and about to go: never refilled. */
  removing?: ReadonlySet<number>;
  /** Pods whose node has joined the cluster; with it, shards waiting for a failover get no new Pod. */
  members?: ReadonlySet<string>;
  /** With persistence, the cluster's claims: a Pod is created on its node's claim again. */
  claims?: readonly Pick<ClaimInfo, 'ordinal' | 'shard'>[];
  /** The shard a rolling update surges (roll.ts): it may have one Pod more than 1 + replicas. */
  surge?: number;
  /**
   * Ordinals no new Pod takes: the ports of masters that own slots but do not answer. A new node
   * there would answer for the dead master: its replicas would sync from it, empty, instead of
   * taking over.
   */
  reserved?: ReadonlySet<number>;
}

export interface PodToCreate {
  ordinal: number;
  shard: number;
}

export interface PodPlan {
  /** Shards the cluster keeps, ascending. */
  shards: number[];
  create: PodToCreate[];
  /** Pods beyond 1 + replicas in a shard: to remove from Redis, then delete. Never slot holders. */
  surplus: string[];
}

/**
 * The shards to keep: before formation 0..masters-1; after, every shard that still has Pods (a
 * shard goes only once drained, see step 7 of the reconcile), topped up with the lowest free
 * indices while there are fewer than `masters`.
 */
export function desiredShards(
  masters: number,
  existing: Iterable<number>,
  formed: boolean,
  removing: ReadonlySet<number> = new Set(),
): number[] {
  if (!formed) return Array.from({ length: masters }, (_, i) => i);
  const keep = new Set([...existing].filter((s) => !removing.has(s)));
  for (let s = 0; keep.size < masters; s++) if (!keep.has(s) && !removing.has(s)) keep.add(s);
  return [...keep].sort((a, b) => a - b);
}

/** Creates the missing Pods of each kept shard at the lowest free ordinals, and finds the surplus. */
export function planPods(input: PodPlanInput): PodPlan {
  const { pods, roles } = input;
  const byShard = new Map<number, ObservedPod[]>();
  for (const p of pods) {
    if (p.shard === undefined) continue;
    let list = byShard.get(p.shard);
    if (!list) byShard.set(p.shard, (list = []));
    list.push(p);
  }
  // A claim no Pod uses holds a node that is to come back (every Pod deleted at once): its shard is
  // kept, its Pod is created on it, and its ordinal is given to no other shard.
  const taken = new Set(pods.map((p) => p.ordinal));
  const unused = (input.claims ?? []).filter((c) => c.shard !== undefined && !taken.has(c.ordinal)).sort((a, b) => a.ordinal - b.ordinal);
  const shards = desiredShards(input.masters, [...byShard.keys(), ...unused.map((c) => c.shard!)], input.formed, input.removing);
  for (const c of unused) taken.add(c.ordinal);
  let cursor = 0;
  const nextOrdinal = (shard: number): number => {
    const own = unused.findIndex((c) => c.shard === shard);
    if (own >= 0) return unused.splice(own, 1)[0]!.ordinal;
    while (taken.has(cursor) || input.reserved?.has(cursor)) cursor++;
    taken.add(cursor);
    return cursor;
  };
  const create: PodToCreate[] = [];
  const surplus: string[] = [];
  for (const shard of shards) {
    const perShard = 1 + input.replicas + (shard === input.surge ? 1 : 0);
    const members = byShard.get(shard) ?? [];
    const live = members.filter((p) => !p.deleting);
    // A Pod still terminating keeps its name: its replacement waits for the next pass.
    if (members.some((p) => p.deleting)) continue;
    // Joined Pods but no master among them: the master's Pod is gone and a replica has not taken
    // over yet. A new node at the old master's address would hide the dead master from the
    // cluster's failure detection (it answers for that address with another id), so wait.
    if (input.formed && input.members && live.some((p) => input.members!.has(p.name)) && !live.some((p) => roles.masters.has(p.name)))
      continue;
    for (let n = live.length; n < perShard; n++) create.push({ ordinal: nextOrdinal(shard), shard });
    if (live.length > perShard) surplus.push(...surplusOf(live, live.length - perShard, perShard, roles));
  }
  return { shards, create, surplus };
}

/**
 * The `count` Pods of a shard to remove: never a master, copies not in sync first, then the highest
 * ordinals; and never a copy in sync while that would leave fewer than `perShard` of them (a
 * surge's replica stays until the Pod that replaced it has caught up).
 */
function surplusOf(live: readonly ObservedPod[], count: number, perShard: number, roles: PodRoles): string[] {
  const synced = (p: ObservedPod) => roles.synced?.has(p.name) ?? false;
  let copies = live.filter((p) => roles.slotHolders.has(p.name) || synced(p)).length;
  const out: string[] = [];
  const removable = live
    .filter((p) => !roles.slotHolders.has(p.name) && !roles.masters.has(p.name))
    .sort((a, b) => Number(synced(a)) - Number(synced(b)) || b.ordinal - a.ordinal);
  for (const p of removable.slice(0, count)) {
    if (roles.synced && synced(p) && copies - 1 < perShard) break;
    if (synced(p)) copies--;
    out.push(p.name);
  }
  return out;
}

/**
 * Shards whose Pods may all go, once exactly `masters` masters own slots (a reshard has finished
 * draining): a shard none of whose Pods holds slots and whose master has joined but owns nothing,
 * or a shard with no joined Pod at all while `masters` other shards have joined ones (a drained
 * shard whose nodes were already reset).
 */
export function drainedShards(input: {
  masters: number;
  slotOwners: number;
  pods: readonly ObservedPod[];
  roles: PodRoles;
  /** Pods whose node has joined the cluster. */
  members: ReadonlySet<string>;
}): number[] {
  if (input.slotOwners !== input.masters) return [];
  const byShard = new Map<number, ObservedPod[]>();
  for (const p of input.pods) {
    if (p.shard === undefined) continue;
    let list = byShard.get(p.shard);
    if (!list) byShard.set(p.shard, (list = []));
    list.push(p);
  }
  const joined = [...byShard.values()].filter((members) => members.some((p) => input.members.has(p.name))).length;
  const out: number[] = [];
  for (const [shard, members] of byShard) {
    if (members.some((p) => input.roles.slotHolders.has(p.name))) continue;
    const emptyMaster = members.some((p) => input.roles.masters.has(p.name));
    const neverJoined = !members.some((p) => input.members.has(p.name)) && joined >= input.masters;
    if (emptyMaster || neverJoined) out.push(shard);
  }
  return out.sort((a, b) => a - b);
}
