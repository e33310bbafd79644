import { describe, expect, it } from 'vitest';
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { NodeReport } from '../../shared/redis/types.js';
import {
  buildView,
  isDown,
  isFreshNode,
  isGone,
  liveMasters,
  liveReplicasOf,
  memberReports,
  nodeEndpoint,
  openSlotsOf,
} from '../../shared/redis/view.js';
import { A, B, C, D, E, F, G, edit, healthy, ipOf, report } from '../helpers/cluster-reports.js';

function fresh(me: string, address: string): NodeReport {
  const nodes = parseClusterNodes(`${me} ${address}@17000 myself,master - 0 0 0 connected`);
  return {
    address: { ip: address.split(':')[0]!, port: 7000 },
    myId: me,
    nodes,
    clusterState: 'fail',
    clusterInfo: {},
    replication: { role: 'master' },
    keys: 0,
  };
}

describe('buildView: one merged view of the cluster', () => {
  it('gives a slot to the claim with the highest config epoch in any view', () => {
    // B still lists A as owner of 0-5460 at epoch 1; D, promoted at epoch 7, claims it for itself.
    const promoted = edit(healthy(), { [A]: { flags: 'master,fail' }, [D]: { flags: 'master', master: '-', epoch: 7, slots: '0-5460' } });
    const view = buildView([report(B), report(D, promoted)]);
    expect(view.owners[0]).toBe(D);
    expect(view.owners[5460]).toBe(D);
    expect(view.owners[5461]).toBe(B);
    expect(view.nodes.get(D)!.slots).toEqual([{ start: 0, end: 5460 }]);
    expect(view.nodes.get(A)!.slots).toEqual([]);
  });

  it('takes a reached node at its own word and a silent one at what most peers say', () => {
    const moved = edit(healthy(), { [A]: { addr: '10.9.9.9:7000@17000' } });
    const view = buildView([report(B, moved), report(C, moved), report(E), report(F)]);
    const a = view.nodes.get(A)!;
    expect(a.report).toBeUndefined();
    expect(a.ip).toBe('10.9.9.9');
    expect(a.seenBy).toBe(4);
    // D answered: its own address and role win over anything the others list.
    const withD = buildView([
      report(D, healthy(), { address: '10.0.0.40:7000' }),
      report(B, edit(healthy(), { [D]: { flags: 'master', master: '-' } })),
    ]);
    expect(withD.nodes.get(D)).toMatchObject({ ip: '10.0.0.40', role: 'replica', masterId: A });
  });

  it('counts how many peers flag a node, and keeps reports and unreachable endpoints', () => {
    const flagged = edit(healthy(), { [A]: { flags: 'master,fail' } });
    const down = [{ ip: ipOf(A), port: 7000 }];
    const view = buildView([report(B, flagged), report(C, flagged), report(D)], down);
    expect(view.nodes.get(A)).toMatchObject({ failBy: 2, seenBy: 3 });
    expect(isDown(view.nodes.get(A)!)).toBe(true);
    expect(isDown(view.nodes.get(B)!)).toBe(false);
    expect(view.reports.map((r) => r.myId)).toEqual([B, C, D]);
    expect(view.unreachable).toEqual(down);
  });

  it('keeps the first report of a node that answered at two addresses', () => {
    const first = report(A);
    const second = report(A, healthy(), { address: '10.0.0.99:7000' });
    expect(buildView([first, second]).nodes.get(A)!.report).toBe(first);
  });

  it('calls a silent node gone when every peer says noaddr, or when it is at no desired address', () => {
    const noaddr = edit(healthy(), { [A]: { flags: 'master,noaddr' } });
    const view = buildView([report(B, noaddr), report(C, noaddr)]);
    expect(isGone(view.nodes.get(A)!)).toBe(true);
    const quiet = buildView([report(B), report(C)]);
    expect(isGone(quiet.nodes.get(A)!)).toBe(false);
    expect(isGone(quiet.nodes.get(A)!, [{ ip: ipOf(A), port: 7000 }])).toBe(false);
    expect(isGone(quiet.nodes.get(A)!, [{ ip: '10.1.1.1', port: 7000 }])).toBe(true);
    expect(isGone(quiet.nodes.get(B)!, [])).toBe(false);
  });

  it('answers who is live, where a node is, who has joined and which slots are open', () => {
    const open = edit(healthy(), { [A]: { slots: '0-5460 [100->-' + B + ']' } });
    const reports = [
      report(A, open),
      report(B, edit(healthy(), { [B]: { slots: '5461-10922 [100-<-' + A + ']' } })),
      report(E),
      fresh(G, '10.0.0.50:7000'),
    ];
    const view = buildView(reports);
    expect(liveMasters(view).map((n) => n.id)).toEqual([A, B, G]);
    expect(liveReplicasOf(view, B).map((n) => n.id)).toEqual([E]);
    expect(liveReplicasOf(view, A)).toEqual([]);
    expect(nodeEndpoint(view, C)).toEqual({ ip: ipOf(C), port: 7000 });
    expect(() => nodeEndpoint(view, 'f'.repeat(39) + '0')).toThrow(/not known/);
    expect(isFreshNode(reports[3]!)).toBe(true);
    expect(isFreshNode(reports[0]!)).toBe(false);
    expect(memberReports(view).map((r) => r.myId)).toEqual([A, B, E]);
    expect(openSlotsOf(view)).toEqual([
      { slot: 100, state: 'migrating', peerId: B, nodeId: A },
      { slot: 100, state: 'importing', peerId: A, nodeId: B },
    ]);
  });
});
