// What to do with a slot left open, case by case (after redis-cli's clusterManagerFixOpenSlot, but
// always rolling forward), and which replies of a MIGRATE round mean what.
import { describe, expect, it } from 'vitest';
import { classifyListing, classifyMigrateReply } from '../../shared/redis/planner/migrate-replies.js';
import { currentPrimary, decideOpenSlot, openSlotFlags, supersededImports } from '../../shared/redis/planner/open-slots.js';
import { buildView } from '../../shared/redis/view.js';
import { A, ALL, B, C, D, E, edit, healthy, report, type Line } from '../helpers/cluster-reports.js';

const SLOT = 100;
const migrating = (to: string) => `0-5460 [${SLOT}->-${to}]`;
const importing = (from: string, own: string) => `${own} [${SLOT}-<-${from}]`;

/** Every node reports `lines`, except those in `silent`. */
function viewOf(lines: Line[], silent: string[] = []) {
  return buildView(ALL.filter((n) => !silent.includes(n)).map((n) => report(n, lines)));
}

function decide(lines: Line[], silent: string[] = [], keyHolders?: string[]) {
  const view = viewOf(lines, silent);
  return decideOpenSlot(view, SLOT, openSlotFlags(view).get(SLOT) ?? { migrating: [], importing: [] }, keyHolders);
}

describe('decideOpenSlot', () => {
  it('rolls forward a slot migrating on its owner and importing on the target (redis-cli case 1)', () => {
    const lines = edit(healthy(), { [A]: { slots: migrating(B) }, [B]: { slots: importing(A, '5461-10922') } });
    expect(decide(lines)).toMatchObject({ kind: 'roll-forward', slot: SLOT, ownerId: A, targetId: B });
  });

  it('rolls forward to the target named by the owner alone, and to its new primary after a failover', () => {
    expect(decide(edit(healthy(), { [A]: { slots: migrating(B) } }))).toMatchObject({ kind: 'roll-forward', targetId: B });
    // B failed over to its replica E, and came back as E's replica.
    const failedOver = edit(healthy(), {
      [A]: { slots: migrating(B) },
      [B]: { flags: 'slave', master: E, slots: '', epoch: 2 },
      [E]: { flags: 'master', master: '-', slots: '5461-10922', epoch: 7 },
    });
    expect(decide(failedOver)).toMatchObject({ kind: 'roll-forward', ownerId: A, targetId: E });
    expect(currentPrimary(viewOf(failedOver), B)).toBe(E);
  });

  it('leaves a slot open while the target it migrates to is known but unreachable', () => {
    const lines = edit(healthy(), { [A]: { slots: migrating(B) }, [B]: { flags: 'master,fail' } });
    expect(decide(lines, [B])).toEqual({
      kind: 'leave',
      slot: SLOT,
      nodeId: B,
      reason: `slot ${SLOT} is migrating to ${B}, which is not reachable; left open until it or its replica answers`,
    });
  });

  it('leaves a slot whose owner is not reachable (redis-cli refuses with unreachable masters)', () => {
    const lines = edit(healthy(), { [B]: { slots: importing(A, '5461-10922') } });
    expect(decide(lines, [A, D])).toEqual({ kind: 'leave', slot: SLOT, reason: `slot ${SLOT} is open but its owner is not reachable` });
  });

  it('rolls forward to the one node importing it when the owner has no flag', () => {
    const lines = edit(healthy(), { [C]: { slots: importing(A, '10923-16383') } });
    expect(decide(lines)).toMatchObject({ kind: 'roll-forward', ownerId: A, targetId: C });
  });

  it('asks for key counts when the flags do not name a target, then follows the keys', () => {
    // Two importers: no single target from the flags.
    const lines = edit(healthy(), { [B]: { slots: importing(A, '5461-10922') }, [C]: { slots: importing(A, '10923-16383') } });
    expect(decide(lines)).toEqual({ kind: 'count-keys', slot: SLOT, nodeIds: [B, C] });
    expect(decide(lines, [], [C])).toMatchObject({ kind: 'roll-forward', ownerId: A, targetId: C });
    expect(decide(lines, [], [B, C])).toEqual({
      kind: 'leave',
      slot: SLOT,
      reason: `slot ${SLOT} has keys on several non-owners (${B}, ${C}); left for a human`,
    });
  });

  it('closes a slot nothing was moved from (redis-cli case 4), naming every flagged node', () => {
    const lines = edit(healthy(), { [B]: { slots: importing(A, '5461-10922') }, [C]: { slots: importing(A, '10923-16383') } });
    expect(decide(lines, [], [])).toEqual({ kind: 'close', slot: SLOT, ownerId: A, migrating: [], importing: [B, C] });
    // The owner migrating to itself names no other target.
    const self = edit(healthy(), { [A]: { slots: migrating(A) } });
    expect(decide(self, [], [])).toEqual({ kind: 'close', slot: SLOT, ownerId: A, migrating: [A], importing: [] });
  });
});

describe('openSlotFlags and supersededImports', () => {
  it('collects the reached masters’ own flags in slot order, ignoring what peers say', () => {
    const lines = edit(healthy(), { [A]: { slots: `0-5460 [200->-${B}] [${SLOT}->-${C}]` }, [C]: { slots: importing(A, '10923-16383') } });
    const flags = openSlotFlags(viewOf(lines));
    expect([...flags.keys()]).toEqual([SLOT, 200]);
    expect(flags.get(SLOT)).toEqual({ migrating: [{ nodeId: A, peerId: C }], importing: [{ nodeId: C, peerId: A }] });
    expect(openSlotFlags(viewOf(lines, [A, C])).size).toBe(0);
  });

  it('finds importing flags on masters that neither own the slot nor were rolled forward to', () => {
    const lines = edit(healthy(), { [B]: { slots: importing(A, '5461-10922') }, [C]: { slots: importing(A, '10923-16383') } });
    const view = viewOf(lines);
    expect(supersededImports(view, new Set([`${A}>${C}`]))).toEqual([{ nodeId: B, slot: SLOT }]);
    expect(supersededImports(view, new Set())).toEqual([
      { nodeId: B, slot: SLOT },
      { nodeId: C, slot: SLOT },
    ]);
    expect(supersededImports(viewOf(healthy()), new Set())).toEqual([]);
  });
});

describe('classifyMigrateReply and classifyListing', () => {
  it('tells moved keys, stale keys, a silent target, a cluster that is down and a refusal apart', () => {
    expect(classifyMigrateReply('OK')).toBe('moved');
    expect(classifyMigrateReply('NOKEY')).toBe('nokey');
    expect(classifyMigrateReply(new Error('BUSYKEY Target key name already exists.'))).toBe('busy-key');
    expect(classifyMigrateReply(new Error('IOERR error or timeout reading to target instance'))).toBe('target-silent');
    expect(classifyMigrateReply(new Error('connect ECONNREFUSED 127.0.0.1:7001'))).toBe('target-silent');
    expect(classifyMigrateReply(new Error('CLUSTERDOWN The cluster is down'))).toBe('cluster-down');
    expect(classifyMigrateReply(new Error('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe('cluster-down');
    expect(classifyMigrateReply(new Error('ERR Target instance replied with error: NOAUTH'))).toBe('refused');
  });

  it('reads the slot’s next listing or count', () => {
    const keys = [Buffer.from('k1')];
    expect(classifyListing(keys)).toEqual({ kind: 'keys', keys });
    expect(classifyListing([])).toEqual({ kind: 'finished' });
    expect(classifyListing(0)).toEqual({ kind: 'finished' });
    expect(classifyListing(3)).toEqual({ kind: 'relist' });
    const error = new Error('MOVED 100 127.0.0.1:7001');
    expect(classifyListing(error)).toEqual({ kind: 'failed', error });
  });
});
