// When the reshard may plan: every slot with a reachable master, none open, and every joined node
// aware of every master (a master that has just joined is still spreading by gossip).
import { describe, expect, it } from 'vitest';
import { unsettled } from '../../functions/reshard/plan.js';
import { buildView } from '../../shared/redis/view.js';
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { NodeReport } from '../../shared/redis/types.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const line = (id: string, port: number, flags: string, slots: string) =>
  `${id} 127.0.0.1:${port}@${port + 10000} ${flags} - 0 0 1 connected ${slots}`;

/** One node's report: its CLUSTER NODES lines, `myself` marking its own. */
function report(self: string, port: number, lines: string[]): NodeReport {
  const nodes = parseClusterNodes(lines.map((l) => (l.startsWith(self) ? l.replace(' master ', ' myself,master ') : l)).join('\n'));
  return { address: { ip: '127.0.0.1', port }, myId: self, nodes, clusterState: 'ok', clusterInfo: {}, replication: {}, keys: 0 };
}

const a = line(A, 7000, 'master', '0-8191');
const b = line(B, 7001, 'master', '8192-16383');
const c = line(C, 7002, 'master', '');

describe('reshard: when the cluster is settled enough to plan', () => {
  it('a settled cluster with a new empty master every node knows', () => {
    const map = buildView([report(A, 7000, [a, b, c]), report(B, 7001, [a, b, c]), report(C, 7002, [a, b, c])]);
    expect(unsettled(map)).toBeUndefined();
  });

  it('waits while a node has yet to learn of a master that just joined', () => {
    const map = buildView([report(A, 7000, [a, b, c]), report(B, 7001, [a, b]), report(C, 7002, [a, b, c])]);
    expect(unsettled(map)).toBe(`127.0.0.1:7001 does not know master ${C} yet`);
  });

  it('a master only in handshake does not count as known', () => {
    const shaking = `${C} 127.0.0.1:7002@17002 handshake - 0 0 0 connected`;
    const map = buildView([report(A, 7000, [a, b, c]), report(B, 7001, [a, b, shaking]), report(C, 7002, [a, b, c])]);
    expect(unsettled(map)).toContain('127.0.0.1:7001 does not know master');
  });

  it('a fresh node that has not joined yet is not waited for', () => {
    const D = 'd'.repeat(40);
    const map = buildView([report(A, 7000, [a, b]), report(B, 7001, [a, b]), report(D, 7003, [line(D, 7003, 'master', '')])]);
    // D answers as a master of its own one-node view: reconcile's to place, not a master to wait for.
    expect(unsettled(map)).toBeUndefined();
  });
});
