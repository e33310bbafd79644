import { describe, expect, it } from 'vitest';
import { desiredShards, drainedShards, planPods, type ObservedPod } from '../../functions/reconcile/pods.js';

const pod = (ordinal: number, shard: number, deleting = false): ObservedPod => ({ name: `rc-${ordinal}`, ordinal, shard, deleting });
const noRoles = { slotHolders: new Set<string>(), masters: new Set<string>() };

describe('planPods', () => {
  it('creates every Pod of a new cluster, shard by shard, ordinals from 0', () => {
    const plan = planPods({ masters: 3, replicas: 1, pods: [], roles: noRoles, formed: false });
    expect(plan.shards).toEqual([0, 1, 2]);
    expect(plan.create).toEqual([
      { ordinal: 0, shard: 0 },
      { ordinal: 1, shard: 0 },
      { ordinal: 2, shard: 1 },
      { ordinal: 3, shard: 1 },
      { ordinal: 4, shard: 2 },
      { ordinal: 5, shard: 2 },
    ]);
    expect(plan.surplus).toEqual([]);
  });

  it("reuses the lowest free ordinal for a deleted Pod, in the Pod's own shard", () => {
    const pods = [pod(0, 0), pod(1, 0), pod(3, 1), pod(4, 2), pod(5, 2)];
    const plan = planPods({ masters: 3, replicas: 1, pods, roles: noRoles, formed: true });
    expect(plan.create).toEqual([{ ordinal: 2, shard: 1 }]);
  });

  it('gives a shard whose master Pod is gone no new Pod until a replica has taken over', () => {
    const pods = [pod(1, 0), pod(2, 1), pod(3, 1), pod(4, 2), pod(5, 2)];
    const members = new Set(pods.map((p) => p.name));
    const waiting = { slotHolders: new Set(['rc-2', 'rc-4']), masters: new Set(['rc-2', 'rc-4']) };
    expect(planPods({ masters: 3, replicas: 1, pods, roles: waiting, formed: true, members }).create).toEqual([]);
    const promoted = { slotHolders: new Set(['rc-1', 'rc-2', 'rc-4']), masters: new Set(['rc-1', 'rc-2', 'rc-4']) };
    expect(planPods({ masters: 3, replicas: 1, pods, roles: promoted, formed: true, members }).create).toEqual([{ ordinal: 0, shard: 0 }]);
  });

  it('gives no new Pod the ordinal of a master that died with its Pod, in any shard', () => {
    // A machine took rc-0 (shard 0's master) and rc-3 (shard 1's replica); rc-1 has not taken over yet.
    const pods = [pod(1, 0), pod(2, 1), pod(4, 2), pod(5, 2)];
    const members = new Set(pods.map((p) => p.name));
    const roles = { slotHolders: new Set(['rc-2', 'rc-4']), masters: new Set(['rc-2', 'rc-4']) };
    const input = { masters: 3, replicas: 1, pods, roles, formed: true, members };
    expect(planPods(input).create).toEqual([{ ordinal: 0, shard: 1 }]);
    expect(planPods({ ...input, reserved: new Set([0]) }).create).toEqual([{ ordinal: 3, shard: 1 }]);
  });

  it('waits for a terminating Pod before replacing it', () => {
    const pods = [pod(0, 0), pod(1, 0), pod(2, 1, true), pod(3, 1), pod(4, 2), pod(5, 2)];
    expect(planPods({ masters: 3, replicas: 1, pods, roles: noRoles, formed: true }).create).toEqual([]);
  });

  it('adds replicas at free ordinals when replicas grows', () => {
    const pods = [0, 1, 2, 3, 4, 5].map((i) => pod(i, Math.floor(i / 2)));
    const plan = planPods({ masters: 3, replicas: 2, pods, roles: noRoles, formed: true });
    expect(plan.create).toEqual([
      { ordinal: 6, shard: 0 },
      { ordinal: 7, shard: 1 },
      { ordinal: 8, shard: 2 },
    ]);
  });

  it('names surplus replicas when replicas shrinks, never a slot holder or a master', () => {
    const pods = [pod(0, 0), pod(1, 0), pod(6, 0), pod(2, 1), pod(3, 1), pod(7, 1)];
    // After failovers rc-6 holds shard 0's slots and rc-7 is shard 1's master.
    const roles = { slotHolders: new Set(['rc-6', 'rc-2']), masters: new Set(['rc-6', 'rc-2']) };
    const plan = planPods({ masters: 2, replicas: 1, pods, roles, formed: true });
    expect(plan.surplus).toEqual(['rc-1', 'rc-7']);
    expect(plan.surplus).not.toContain('rc-6');
    const shrink = planPods({ masters: 2, replicas: 0, pods, roles, formed: true });
    expect(shrink.surplus.sort()).toEqual(['rc-0', 'rc-1', 'rc-3', 'rc-7']);
  });

  it('gives the surging shard one Pod more, and takes none from it', () => {
    const pods = [0, 1, 2, 3].map((i) => pod(i, Math.floor(i / 2)));
    expect(planPods({ masters: 2, replicas: 1, pods, roles: noRoles, formed: true, surge: 1 }).create).toEqual([{ ordinal: 4, shard: 1 }]);
    const surged = [...pods, pod(4, 1)];
    expect(planPods({ masters: 2, replicas: 1, pods: surged, roles: noRoles, formed: true, surge: 1 })).toMatchObject({
      create: [],
      surplus: [],
    });
    expect(planPods({ masters: 2, replicas: 1, pods: surged, roles: noRoles, formed: true }).surplus).toEqual(['rc-4']);
  });

  it('removes a copy not in sync first, and never a copy in sync that the shard still needs', () => {
    const pods = [pod(0, 0), pod(1, 0), pod(6, 0)];
    const master = { slotHolders: new Set(['rc-0']), masters: new Set(['rc-0']) };
    // rc-1 restarted and syncs again: rc-6, in sync, stays although its ordinal is higher.
    expect(planPods({ masters: 1, replicas: 1, pods, roles: { ...master, synced: new Set(['rc-6']) }, formed: true }).surplus).toEqual([
      'rc-1',
    ]);
    // rc-1 is a master by its own word (met, not yet a replica): rc-6 is the shard's only copy besides its master.
    const stranded = { slotHolders: master.slotHolders, masters: new Set(['rc-0', 'rc-1']), synced: new Set(['rc-6']) };
    expect(planPods({ masters: 1, replicas: 1, pods, roles: stranded, formed: true }).surplus).toEqual([]);
    // Both in sync: the highest ordinal goes.
    expect(
      planPods({ masters: 1, replicas: 1, pods, roles: { ...master, synced: new Set(['rc-1', 'rc-6']) }, formed: true }).surplus,
    ).toEqual(['rc-6']);
  });

  it('never removes a slot holder even when no other Pod can go', () => {
    const pods = [pod(0, 0), pod(1, 0)];
    const roles = { slotHolders: new Set(['rc-0', 'rc-1']), masters: new Set(['rc-0', 'rc-1']) };
    expect(planPods({ masters: 1, replicas: 0, pods, roles, formed: true }).surplus).toEqual([]);
  });
});

describe('shards', () => {
  it('keeps every shard with Pods after formation and tops up with the lowest free index', () => {
    expect(desiredShards(3, [], false)).toEqual([0, 1, 2]);
    expect(desiredShards(4, [0, 1, 2], true)).toEqual([0, 1, 2, 3]);
    expect(desiredShards(3, [0, 2, 3], true)).toEqual([0, 2, 3]);
    expect(desiredShards(3, [0, 2], true)).toEqual([0, 1, 2]);
    expect(desiredShards(3, [0, 1, 2, 3], true)).toEqual([0, 1, 2, 3]);
    expect(desiredShards(3, [0, 1, 2, 3], true, new Set([1]))).toEqual([0, 2, 3]);
  });

  it('a drained shard is one whose master owns nothing once exactly `masters` own slots', () => {
    const pods = [pod(0, 0), pod(1, 0), pod(2, 1), pod(3, 1), pod(4, 2), pod(5, 2), pod(6, 3), pod(7, 3)];
    const roles = { slotHolders: new Set(['rc-0', 'rc-2', 'rc-4']), masters: new Set(['rc-0', 'rc-2', 'rc-4', 'rc-6']) };
    const members = new Set(pods.map((p) => p.name));
    expect(drainedShards({ masters: 3, slotOwners: 3, pods, roles, members })).toEqual([3]);
    // Still draining (4 owners), or a scale-out whose new master waits for slots (3 of 4).
    expect(drainedShards({ masters: 3, slotOwners: 4, pods, roles, members })).toEqual([]);
    expect(drainedShards({ masters: 4, slotOwners: 3, pods, roles, members })).toEqual([]);
    // The drained shard's nodes were already reset: fresh, they are not members any more.
    const resetRoles = { slotHolders: roles.slotHolders, masters: new Set(['rc-0', 'rc-2', 'rc-4']) };
    const withoutShard3 = new Set([...members].filter((n) => n !== 'rc-6' && n !== 'rc-7'));
    expect(drainedShards({ masters: 3, slotOwners: 3, pods, roles: resetRoles, members: withoutShard3 })).toEqual([3]);
    // A whole shard lost (its Pods replaced, fresh) while its dead master still owns slots: 2 joined shards < 3, kept.
    const lost = new Set([...members].filter((n) => n !== 'rc-4' && n !== 'rc-5' && n !== 'rc-6' && n !== 'rc-7'));
    const lostRoles = { slotHolders: new Set(['rc-0', 'rc-2']), masters: new Set(['rc-0', 'rc-2']) };
    expect(drainedShards({ masters: 3, slotOwners: 3, pods: pods.slice(0, 6), roles: lostRoles, members: lost })).toEqual([]);
  });
});
