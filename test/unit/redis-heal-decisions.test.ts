import { describe, expect, it } from 'vitest';
import { buildView } from '../../shared/redis/view.js';
import { decideFailover, findOrphanedMasters, pickPromotionCandidate, successorOf } from '../../shared/redis/planner/failover.js';
import { findGhosts, findLostShards, lostShardsProblem, planAddressFixes, planSlotRecovery } from '../../shared/redis/planner/heal.js';
import { chooseNewMaster, ownsNothingByItsOwnWord, slotsOwnedBy } from '../../shared/redis/planner/remove.js';
import { SLOT_COUNT } from '../../shared/redis/types.js';
import { A, ALL, B, C, D, E, F, G, desired, edit, healthy, report, type Line } from '../helpers/cluster-reports.js';

describe('decideFailover', () => {
  it('is graceful while the master answers and nobody flags it', () => {
    const view = buildView(ALL.map((n) => report(n)));
    expect(decideFailover(view, A)).toBe('graceful');
  });

  it('waits on fail? alone and forces once the cluster marked the master fail', () => {
    const others = ALL.filter((n) => n !== A);
    const pfail = buildView(others.map((n) => report(n, edit(healthy(), { [A]: { flags: 'master,fail?' } }))));
    expect(decideFailover(pfail, A)).toBe('wait');
    const failed = buildView(others.map((n) => report(n, edit(healthy(), { [A]: { flags: 'master,fail' } }))));
    expect(decideFailover(failed, A)).toBe('force');
  });

  it('forces when every peer lists the master as noaddr (Redis never flags it fail)', () => {
    // A fresh node now answers at A's address: everyone dropped the old id's address.
    const lines = edit(healthy(), { [A]: { addr: ':0@0', flags: 'master,noaddr' } });
    const view = buildView(ALL.filter((n) => n !== A).map((n) => report(n, lines)));
    expect(view.nodes.get(A)!.failBy).toBe(0);
    expect(decideFailover(view, A)).toBe('force');
    expect(decideFailover(view, A, desired(ALL))).toBe('force');
  });

  it('waits while only some peers list the master as noaddr', () => {
    const noaddr = edit(healthy(), { [A]: { addr: ':0@0', flags: 'master,noaddr' } });
    const others = ALL.filter((n) => n !== A);
    const view = buildView(others.map((n, i) => report(n, i < 2 ? noaddr : healthy())));
    expect(decideFailover(view, A, desired(ALL))).toBe('wait');
  });

  it('forces for an unreachable master not at any desired address, waits when it is at one', () => {
    const view = buildView(ALL.filter((n) => n !== A).map((n) => report(n)));
    expect(decideFailover(view, A, desired(ALL))).toBe('wait');
    expect(decideFailover(view, A, desired(ALL.filter((n) => n !== A)))).toBe('force');
    // Without the desired addresses, nothing says it is gone.
    expect(decideFailover(view, A)).toBe('wait');
  });

  it('takes over only when a majority of the slot-owning masters is lost', () => {
    const lines = edit(healthy(), { [A]: { flags: 'master,fail' }, [B]: { addr: ':0@0', flags: 'master,noaddr' } });
    const view = buildView([C, D, E, F].map((n) => report(n, lines)));
    expect(decideFailover(view, A, desired(ALL))).toBe('takeover');
    expect(decideFailover(view, B, desired(ALL))).toBe('takeover');
    // The live master is still graceful.
    expect(decideFailover(view, C, desired(ALL))).toBe('graceful');
  });

  it('names an unknown master', () => {
    expect(() => decideFailover(buildView([report(A)]), G)).toThrow(/not known/);
  });
});

describe('pickPromotionCandidate', () => {
  it('takes the highest offset, then one without nofailover, then by id', () => {
    expect(
      pickPromotionCandidate([
        { id: D, offset: 10, nofailover: false },
        { id: E, offset: 30, nofailover: true },
        { id: F, offset: 20, nofailover: false },
      ])?.id,
    ).toBe(E);
    expect(
      pickPromotionCandidate([
        { id: D, offset: 30, nofailover: true },
        { id: F, offset: 30, nofailover: false },
      ])?.id,
    ).toBe(F);
    expect(pickPromotionCandidate([])).toBeUndefined();
  });
});

describe('planAddressFixes', () => {
  it('plans nothing for a healthy cluster', () => {
    expect(
      planAddressFixes(
        ALL.map((n) => report(n)),
        desired(ALL),
      ),
    ).toEqual([]);
  });

  it('has every member that lists a moved node at its old address meet it at the new one', () => {
    const want = desired(ALL).map((d) => (d.name === 'rc-1' ? { ...d, ip: '10.0.1.2' } : d));
    // B restarted on 10.0.1.2 and already advertises it; C also learned it, the others did not.
    const moved = edit(healthy(), { [B]: { addr: '10.0.1.2:7000@17000' } });
    const reports = ALL.map((n) => (n === B || n === C ? report(n, moved) : report(n)));
    const steps = planAddressFixes(reports, want);
    expect(steps.map((s) => s.fromId).sort()).toEqual([A, D, E, F].sort());
    for (const s of steps) {
      expect(s).toMatchObject({ toId: B, to: { ip: '10.0.1.2', port: 7000, busPort: 17000 } });
      expect(s.reason).toMatch(/lists it at 10\.0\.0\.2:7000/);
    }
  });

  it('has one member meet a node that still advertises its old address to everyone', () => {
    const want = desired(ALL).map((d) => (d.name === 'rc-1' ? { ...d, ip: '10.0.1.2' } : d));
    const moved = edit(healthy(), { [B]: { addr: '10.0.1.2:7000@17000' } });
    // Everyone else already lists B at the new address, but B's own line still shows the old one.
    const reports = ALL.map((n) => (n === B ? report(n, healthy(), { address: '10.0.1.2:7000' }) : report(n, moved)));
    const steps = planAddressFixes(reports, want);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ toId: B, reason: 'it advertises itself at 10.0.0.2' });
  });

  it('meets a node every member lists as failed or noaddr, and leaves fresh nodes alone', () => {
    const flagged = edit(healthy(), { [A]: { flags: 'master,fail' } });
    const fresh = report(G, [{ id: G, addr: '10.0.0.7:7000@17000', flags: 'master', master: '-', epoch: 0, slots: '' }]);
    const nodes = [...desired(ALL), { name: 'rc-6', ip: '10.0.0.7', port: 7000, busPort: 17000, domain: 'host-0' }];
    const steps = planAddressFixes([report(A), ...[B, C].map((n) => report(n, flagged)), fresh], nodes);
    expect(steps.map((s) => [s.fromId, s.toId, s.reason])).toEqual([
      [B, A, 'lists it as failed'],
      [C, A, 'lists it as failed'],
    ]);
  });
});

describe('findLostShards and planSlotRecovery', () => {
  it('finds a master marked fail with no reachable replica; not one whose replica answers', () => {
    const lines = edit(healthy(), { [A]: { flags: 'master,fail' }, [D]: { flags: 'slave,fail' } });
    const lostView = buildView([B, C, E, F].map((n) => report(n, lines)));
    expect(findLostShards(lostView)).toEqual([{ masterId: A, slots: [{ start: 0, end: 5460 }], replicaIds: [D] }]);
    const orphanView = buildView([B, C, D, E, F].map((n) => report(n, edit(healthy(), { [A]: { flags: 'master,fail' } }))));
    expect(findLostShards(orphanView)).toEqual([]);
  });

  it('finds a shard whose master and replica every peer lists as noaddr (fresh nodes at their addresses), never flagged fail', () => {
    const lines = edit(healthy(), { [A]: { flags: 'master,noaddr' }, [D]: { flags: 'slave,noaddr' } });
    const view = buildView([B, C, E, F].map((n) => report(n, lines)));
    expect(findLostShards(view)).toEqual([{ masterId: A, slots: [{ start: 0, end: 5460 }], replicaIds: [D] }]);
    // Only pfail on one peer is not proof: not lost.
    const doubtful = buildView(
      [B, C, E, F].map((n) => report(n, edit(healthy(), { [A]: { flags: 'master,fail?' }, [D]: { flags: 'slave,fail?' } }))),
    );
    expect(findLostShards(doubtful)).toEqual([]);
  });

  it('reports slots no master claims under an empty master id', () => {
    const lines = edit(healthy(), { [C]: { slots: '10923-16000' } });
    const view = buildView(ALL.map((n) => report(n, lines)));
    expect(findLostShards(view)).toEqual([{ masterId: '', slots: [{ start: 16001, end: 16383 }], replicaIds: [] }]);
  });

  it('gives an uncovered run to its neighbours, split in the middle between two', () => {
    const owners: (string | undefined)[] = new Array<string | undefined>(SLOT_COUNT).fill(undefined);
    for (let s = 0; s < SLOT_COUNT; s++) owners[s] = s <= 5460 ? A : s <= 10922 ? B : C;
    expect(planSlotRecovery(owners, new Set([B]))).toEqual([
      { masterId: A, ranges: [{ start: 5461, end: 8191 }] },
      { masterId: C, ranges: [{ start: 8192, end: 10922 }] },
    ]);
    // At the edge there is only one neighbour; unclaimed slots are covered too.
    for (let s = 16000; s < SLOT_COUNT; s++) owners[s] = undefined;
    expect(planSlotRecovery(owners, new Set([A]))).toEqual([
      { masterId: B, ranges: [{ start: 0, end: 5460 }] },
      { masterId: C, ranges: [{ start: 16000, end: 16383 }] },
    ]);
    expect(() => planSlotRecovery(owners, new Set([A, B, C]))).toThrow(/no live master/);
  });
});

describe('findGhosts', () => {
  const ghostLine: Line = { id: G, addr: '10.0.0.9:7000@17000', flags: 'master,fail', master: '-', epoch: 0, slots: '' };

  it('forgets a failed id without slots that is no desired node', () => {
    const reports = ALL.map((n) => report(n, edit(healthy(), {}, [ghostLine])));
    expect(findGhosts(buildView(reports), { unreachable: [], protect: new Set() })).toEqual([G]);
  });

  it('spares an id at the address of a desired node that is only down, a protected one, one in handshake, one with slots', () => {
    const reports = ALL.map((n) => report(n, edit(healthy(), {}, [ghostLine])));
    const view = buildView(reports);
    expect(findGhosts(view, { unreachable: [{ ip: '10.0.0.9', port: 7000 }], protect: new Set() })).toEqual([]);
    expect(findGhosts(view, { unreachable: [], protect: new Set([G]) })).toEqual([]);
    const shaking = ALL.map((n) => report(n, edit(healthy(), {}, [{ ...ghostLine, flags: 'master,handshake' }])));
    expect(findGhosts(buildView(shaking), { unreachable: [], protect: new Set() })).toEqual([]);
    // One stale view still gives it a slot at a lower epoch: not forgotten while anyone sees a claim.
    const claiming = ALL.map((n, i) => report(n, edit(healthy(), {}, [i === 0 ? { ...ghostLine, slots: '0' } : ghostLine])));
    expect(findGhosts(buildView(claiming), { unreachable: [], protect: new Set() })).toEqual([]);
  });

  it('never calls a reachable node a ghost, nor one no peer flags', () => {
    const reports = ALL.map((n) => report(n, edit(healthy(), {}, [{ ...ghostLine, flags: 'master' }])));
    expect(findGhosts(buildView(reports), { unreachable: [], protect: new Set() })).toEqual([]);
  });
});

describe('chooseNewMaster', () => {
  it('prefers a master outside the replica’s domain, then the fewest replicas, then by id', () => {
    const view = buildView(ALL.map((n) => report(n)));
    // D leaves A: B and C both have one replica; B's host is D's own.
    const domains = { [A]: 'h1', [B]: 'h2', [C]: 'h3', [D]: 'h2', [E]: 'h1', [F]: 'h1' };
    expect(chooseNewMaster(view, D, new Set([A]), domains)).toBe(C);
    // Without domains, ties go by id; extra replicas already sent to B count.
    expect(chooseNewMaster(view, D, new Set([A]))).toBe(B);
    expect(chooseNewMaster(view, D, new Set([A]), {}, new Map([[B, 1]]))).toBe(C);
    expect(chooseNewMaster(view, D, new Set([A, B, C]))).toBeUndefined();
  });
});

describe('removal: slots a node still owns', () => {
  it('counts any view that still lists slots at the node, and knows when the node itself says none', () => {
    // A was drained into B (B now at a higher epoch); F's view lags and still gives A its slots.
    const drained = edit(healthy(), { [A]: { slots: '' }, [B]: { slots: '0-10922', epoch: 7 } });
    const lagging = report(F, healthy());
    const reports = [...[A, B, C, D, E].map((n) => report(n, drained)), lagging];
    const view = buildView(reports);
    expect(view.nodes.get(A)!.slots).toEqual([]);
    expect(slotsOwnedBy(view, A)).toBe(5461);
    expect(ownsNothingByItsOwnWord(view.nodes.get(A)!)).toBe(true);
    const converged = [A, B, C, D, E, F].map((n) => report(n, drained));
    expect(slotsOwnedBy(buildView(converged), A)).toBe(0);
    // A node that claims slots itself, or one the operator cannot reach, is not taken at its word.
    const before = ALL.map((n) => report(n));
    expect(ownsNothingByItsOwnWord(buildView(before).nodes.get(A)!)).toBe(false);
    expect(ownsNothingByItsOwnWord(buildView(before.slice(1)).nodes.get(A)!)).toBe(false);
  });
});

describe('findOrphanedMasters', () => {
  it('finds a master that is flagged, gone or not answering, while one of its replicas answers', () => {
    const flagged = buildView([B, C, D, E, F].map((n) => report(n, edit(healthy(), { [A]: { flags: 'master,fail?' } }))));
    expect(findOrphanedMasters(flagged, []).map((m) => m.id)).toEqual([A]);
    // Not flagged yet (within the node timeout), but its address did not answer.
    const silent = buildView(
      [B, C, D, E, F].map((n) => report(n)),
      [{ ip: '10.0.0.1', port: 7000 }],
    );
    expect(
      findOrphanedMasters(
        silent,
        desired(ALL).map((d) => ({ ip: d.ip, port: d.port })),
      ).map((m) => m.id),
    ).toEqual([A]);
    // Not at any desired address: gone.
    expect(
      findOrphanedMasters(
        buildView([B, C, D, E, F].map((n) => report(n))),
        desired([B, C]).map((d) => ({ ip: d.ip, port: d.port })),
      ).map((m) => m.id),
    ).toEqual([A]);
  });

  it('leaves a master that answers, and one whose replicas are all silent too', () => {
    expect(findOrphanedMasters(buildView(ALL.map((n) => report(n))), [])).toEqual([]);
    const lines = edit(healthy(), { [A]: { flags: 'master,fail' }, [D]: { flags: 'slave,fail' } });
    expect(findOrphanedMasters(buildView([B, C, E, F].map((n) => report(n, lines))), [])).toEqual([]);
  });
});

describe('lostShardsProblem', () => {
  it('names every lost slot once, in ranges, and how to re-cover them', () => {
    const problem = lostShardsProblem([
      { masterId: A, slots: [{ start: 0, end: 99 }], replicaIds: [D] },
      {
        masterId: '',
        slots: [
          { start: 100, end: 199 },
          { start: 500, end: 500 },
        ],
        replicaIds: [],
      },
    ]);
    expect(problem).toMatchObject({ code: 'slots-uncovered', slot: 0 });
    expect(problem.message).toMatch(/^201 slots \(0-199,500\) have no live master or replica/);
    expect(problem.message).toMatch(/needs allowDataLoss$/);
  });
});

describe('successorOf', () => {
  it('is the node itself while it answers as a master', () => {
    expect(successorOf(buildView(ALL.map((n) => report(n))), A, [D])).toBe(A);
  });

  it('is the replica that took over, whether the old master is silent or back as its replica', () => {
    const promoted = edit(healthy(), {
      [A]: { flags: 'master,fail', slots: '' },
      [D]: { flags: 'master', master: '-', epoch: 7, slots: '0-5460' },
    });
    expect(successorOf(buildView([B, C, D, E, F].map((n) => report(n, promoted))), A, [D])).toBe(D);
    const rejoined = edit(healthy(), {
      [A]: { flags: 'slave', master: D, slots: '' },
      [D]: { flags: 'master', master: '-', epoch: 7, slots: '0-5460' },
    });
    expect(successorOf(buildView(ALL.map((n) => report(n, rejoined))), A, [D])).toBe(D);
  });

  it('is nobody while no replica has taken over yet', () => {
    const failed = edit(healthy(), { [A]: { flags: 'master,fail' } });
    expect(successorOf(buildView([B, C, D, E, F].map((n) => report(n, failed))), A, [D])).toBeUndefined();
    expect(successorOf(buildView([B, C, D, E, F].map((n) => report(n, failed))), A, [])).toBeUndefined();
  });
});
