// What to do with a slot left open (`[s->-id]` / `[s-<-id]`) by a crashed executor or a failover,
// after redis-cli's clusterManagerFixOpenSlot, rolled forward rather than back: closing an importing
// node that holds keys would strand them (redis #4937). Pure: the cluster view in, a decision out.
import { liveMasters, type ClusterView } from '../view.js';

/** Who has one slot open, by their own word (masters the operator reached). */
export interface SlotFlags {
  migrating: { nodeId: string; peerId: string }[];
  importing: { nodeId: string; peerId: string }[];
}

export type OpenSlotDecision =
  /** Move the rest of its keys from the owner to the target, then hand the slot over. */
  | { kind: 'roll-forward'; slot: number; ownerId: string; targetId: string; reason: string }
  /** Nothing moved anywhere: STABLE on the migrating nodes, and on importing ones that hold no key. */
  | { kind: 'close'; slot: number; ownerId: string; migrating: string[]; importing: string[] }
  /** Ask these masters how many keys of the slot they hold, then decide again with the holders. */
  | { kind: 'count-keys'; slot: number; nodeIds: string[] }
  /** Not safe to touch now. */
  | { kind: 'leave'; slot: number; reason: string; nodeId?: string };

/** Every open slot's flags, in slot order, from the reached masters' own lines. */
export function openSlotFlags(view: ClusterView): Map<number, SlotFlags> {
  const open = new Map<number, SlotFlags>();
  for (const m of liveMasters(view)) {
    for (const o of m.line.openSlots) {
      let e = open.get(o.slot);
      if (!e) open.set(o.slot, (e = { migrating: [], importing: [] }));
      e[o.state].push({ nodeId: m.id, peerId: o.peerId });
    }
  }
  return new Map([...open.entries()].sort((a, b) => a[0] - b[0]));
}

/** The primary of a node's shard now: itself if a reached master, its master if it came back as a replica. */
export function currentPrimary(view: ClusterView, id: string): string | undefined {
  const n = view.nodes.get(id);
  if (n?.report && n.role === 'master') return id;
  if (n?.report && n.role === 'replica' && n.masterId && view.nodes.get(n.masterId)?.report) return n.masterId;
  return undefined;
}

/**
 * The target of an open slot, in the order redis-cli's cases suggest:
 * - the owner is migrating it: to the peer it names, or that peer's new primary after a failover;
 *   with the peer known but unreachable the slot stays open (keys may already be there);
 * - else exactly one other node is importing it (redis-cli's case 1 without the owner's flag);
 * - else the one non-owner master holding keys of it (a target that failed over: its new primary
 *   has no flag); keys on several non-owners are left for a human;
 * - else nothing moved: close it (redis-cli's case 4, "a reshard interrupted in the middle").
 * `keyHolders` are the non-owner masters with keys in the slot, once counted.
 */
export function decideOpenSlot(view: ClusterView, slot: number, flags: SlotFlags, keyHolders?: string[]): OpenSlotDecision {
  const owner = view.owners[slot];
  if (!owner || !view.nodes.get(owner)?.report)
    return { kind: 'leave', slot, reason: `slot ${slot} is open but its owner is not reachable` };
  const mig = flags.migrating.find((m) => m.nodeId === owner);
  if (mig) {
    const target = currentPrimary(view, mig.peerId);
    if (target && target !== owner)
      return { kind: 'roll-forward', slot, ownerId: owner, targetId: target, reason: `${owner} is migrating it to ${mig.peerId}` };
    if (!target && view.nodes.has(mig.peerId)) {
      const reason = `slot ${slot} is migrating to ${mig.peerId}, which is not reachable; left open until it or its replica answers`;
      return { kind: 'leave', slot, reason, nodeId: mig.peerId };
    }
  }
  const importing = flags.importing.filter((i) => i.nodeId !== owner);
  if (importing.length === 1)
    return {
      kind: 'roll-forward',
      slot,
      ownerId: owner,
      targetId: importing[0]!.nodeId,
      reason: `${importing[0]!.nodeId} is importing it`,
    };
  if (keyHolders === undefined)
    return {
      kind: 'count-keys',
      slot,
      nodeIds: liveMasters(view)
        .filter((m) => m.id !== owner)
        .map((m) => m.id),
    };
  if (keyHolders.length === 1)
    return { kind: 'roll-forward', slot, ownerId: owner, targetId: keyHolders[0]!, reason: `${keyHolders[0]} holds keys of it` };
  if (keyHolders.length > 1)
    return { kind: 'leave', slot, reason: `slot ${slot} has keys on several non-owners (${keyHolders.join(', ')}); left for a human` };
  return {
    kind: 'close',
    slot,
    ownerId: owner,
    migrating: flags.migrating.map((m) => m.nodeId),
    importing: flags.importing.map((i) => i.nodeId),
  };
}

/**
 * Importing flags left on reached masters that neither own the slot nor were just rolled forward to
 * (`rolledForward`: `owner>target` keys): a superseded target. The caller closes those with no key.
 */
export function supersededImports(view: ClusterView, rolledForward: Set<string>): { nodeId: string; slot: number }[] {
  const out: { nodeId: string; slot: number }[] = [];
  for (const m of liveMasters(view)) {
    for (const o of m.line.openSlots) {
      const owner = view.owners[o.slot];
      if (o.state !== 'importing' || owner === m.id || rolledForward.has(`${owner}>${m.id}`)) continue;
      out.push({ nodeId: m.id, slot: o.slot });
    }
  }
  return out;
}
