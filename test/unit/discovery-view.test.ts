import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '../../shared/api/status.js';
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { NodeReport } from '../../shared/redis/types.js';
import {
  isReachable,
  liveAddresses,
  nodesAnswer,
  statusAddresses,
  topologyAnswer,
  type ClusterSnapshot,
} from '../../functions/discovery/view.js';

// A 3x1 cluster as node A (10.0.0.1:10000) sees it, with one failing replica, one node in
// handshake, one without address, one whose link is down and one suspected failing.
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const RA = '1'.repeat(40);
const RB = '2'.repeat(40);
const RC = '3'.repeat(40);
const HS = '4'.repeat(40);
const NA = '5'.repeat(40);
const PF = '6'.repeat(40);
const text = [
  `${A} 10.0.0.1:10000@20000 myself,master - 0 0 1 connected 0-5460`,
  `${B} 10.0.0.2:10001@20001 master - 0 1 2 connected 5461-10922`,
  `${C} 10.0.0.10:10002@20002 master - 0 1 3 connected 10923-16383`,
  `${RA} 10.0.0.2:10003@20003 slave ${A} 0 1 1 connected`,
  `${RB} 10.0.0.3:10004@20004 slave,fail ${B} 0 1 2 disconnected`,
  `${RC} 10.0.0.1:10005@20005 slave ${C} 0 1 3 disconnected`,
  `${HS} 10.0.0.9:10006@20006 handshake - 0 0 0 connected`,
  `${NA} :0@0 master,noaddr - 0 0 0 disconnected`,
  `${PF} 10.0.0.8:10007@20007 master,fail? - 0 0 0 connected`,
].join('\n');

function report(nodesText = text, state: 'ok' | 'fail' = 'ok'): NodeReport {
  return {
    address: { ip: '10.0.0.1', port: 10000 },
    myId: A,
    nodes: parseClusterNodes(nodesText),
    clusterState: state,
    clusterInfo: { cluster_state: state, cluster_slots_assigned: '16384', cluster_known_nodes: '9' },
    replication: { role: 'master' },
    keys: 0,
  };
}

const statusNodes: NodeStatus[] = [
  { id: A, pod: 'rc-0', ip: '10.0.0.1', port: 10000, role: 'master', slots: ['0-5460'] },
  { id: B, pod: 'rc-1', ip: '10.0.0.2', port: 10001, role: 'master', slots: ['5461-10922'] },
  { id: C, pod: 'rc-2', ip: '10.0.0.10', port: 10002, role: 'master', slots: ['10923-16383'] },
  { id: RA, pod: 'rc-3', ip: '10.0.0.2', port: 10003, role: 'replica', masterId: A },
  { id: RB, pod: 'rc-4', ip: '10.0.0.3', port: 10004, role: 'replica', masterId: B },
];

function snapshot(over: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    name: 'rc',
    namespace: 'cache',
    source: 'live',
    observedAt: '2026-01-01T00:00:00.000Z',
    report: report(),
    statusNodes,
    unreachable: [],
    masters: 3,
    replicas: 1,
    ...over,
  };
}

describe('GET /cluster/nodes answer', () => {
  it('lists only reachable members, as exactly {ip, port} with numbers, sorted by address', () => {
    const answer = nodesAnswer(snapshot());
    expect(answer).toEqual([
      { ip: '10.0.0.1', port: 10000 },
      { ip: '10.0.0.2', port: 10001 },
      { ip: '10.0.0.2', port: 10003 },
      { ip: '10.0.0.10', port: 10002 },
    ]);
    for (const n of answer) expect(Object.keys(n)).toEqual(['ip', 'port']);
    expect(JSON.stringify(answer[0])).toBe('{"ip":"10.0.0.1","port":10000}');
  });

  it('leaves out fail, fail?, handshake, noaddr and nodes whose link is down', () => {
    const view = parseClusterNodes(text);
    const reachable = new Set(view.filter(isReachable).map((n) => n.id));
    expect(reachable).toEqual(new Set([A, B, C, RA]));
    for (const id of [RB, RC, HS, NA, PF]) expect(reachable.has(id)).toBe(false);
  });

  it('the observer itself counts as reachable even though CLUSTER NODES shows no link to itself', () => {
    const view = parseClusterNodes(`${A} 10.0.0.1:10000@20000 myself,master - 0 0 1 disconnected 0-16383`);
    expect(liveAddresses(view)).toEqual([{ ip: '10.0.0.1', port: 10000 }]);
  });

  it('filters by role', () => {
    expect(nodesAnswer(snapshot(), 'master')).toEqual([
      { ip: '10.0.0.1', port: 10000 },
      { ip: '10.0.0.2', port: 10001 },
      { ip: '10.0.0.10', port: 10002 },
    ]);
    expect(nodesAnswer(snapshot(), 'replica')).toEqual([{ ip: '10.0.0.2', port: 10003 }]);
  });

  it('answers [] (never null) when nothing qualifies', () => {
    const lonely = report(`${A} 10.0.0.1:10000@20000 myself,master - 0 0 1 connected`);
    expect(nodesAnswer(snapshot({ report: lonely }), 'replica')).toEqual([]);
    expect(nodesAnswer(snapshot({ report: undefined, source: 'status', statusNodes: [] }))).toEqual([]);
    expect(JSON.stringify(nodesAnswer(snapshot({ report: undefined, source: 'status', statusNodes: [] })))).toBe('[]');
  });

  it('falls back to the status nodes, by role, deduplicated', () => {
    const s = snapshot({ report: undefined, source: 'status', statusNodes: [...statusNodes, statusNodes[0]!] });
    expect(nodesAnswer(s)).toHaveLength(5);
    expect(nodesAnswer(s, 'replica')).toEqual([
      { ip: '10.0.0.2', port: 10003 },
      { ip: '10.0.0.3', port: 10004 },
    ]);
    expect(statusAddresses([{ ...statusNodes[0]!, ip: '' }])).toEqual([]);
  });
});

describe('GET /cluster/topology answer', () => {
  it('shows masters by slot with their replicas, pods, reachability and health from the live view', () => {
    const t = topologyAnswer(snapshot());
    expect(t.source).toBe('live');
    expect(t.observer).toEqual({ id: A, ip: '10.0.0.1', port: 10000 });
    expect(t.masters.slice(0, 3).map((m) => [m.id, m.slots, m.slotCount])).toEqual([
      [A, ['0-5460'], 5461],
      [B, ['5461-10922'], 5462],
      [C, ['10923-16383'], 5461],
    ]);
    // Masters without slots (here: in handshake, without address, suspected failing) come last.
    expect(new Set(t.masters.slice(3).map((m) => m.id))).toEqual(new Set([HS, NA, PF]));
    expect(t.masters.slice(3).every((m) => m.slotCount === 0 && m.reachable === false)).toBe(true);
    const a = t.masters[0]!;
    expect(a.pod).toBe('rc-0');
    expect(a.replicas.map((r) => [r.id, r.pod, r.reachable])).toEqual([[RA, 'rc-3', true]]);
    expect(t.masters[1]!.replicas.map((r) => [r.id, r.reachable, r.flags])).toEqual([[RB, false, ['slave', 'fail']]]);
    expect(t.nodes).toHaveLength(9);
    expect(t.health.clusterState).toBe('ok');
    expect(t.health.slotsAssigned).toBe(16384);
    const codes = t.health.problems.map((p) => p.code);
    expect(codes).toContain('node-failing');
    expect(codes).toContain('handshake');
    expect(t.health.problems.find((p) => p.code === 'node-failing' && p.nodeId === RB)).toBeDefined();
  });

  it('says where the answer comes from when no node answered', () => {
    const t = topologyAnswer(
      snapshot({
        report: undefined,
        source: 'status',
        unreachable: [{ ip: '10.0.0.1', port: 10000, error: 'connect ECONNREFUSED' }],
        phase: 'Ready',
      }),
    );
    expect(t.source).toBe('status');
    expect(t.observer).toBeUndefined();
    expect(t.phase).toBe('Ready');
    expect(t.health.clusterState).toBe('unknown');
    expect(t.health.problems[0]!.message).toContain('10.0.0.1:10000 (connect ECONNREFUSED)');
    expect(t.masters.map((m) => [m.pod, m.slots, m.replicas.map((r) => r.pod)])).toEqual([
      ['rc-0', ['0-5460'], ['rc-3']],
      ['rc-1', ['5461-10922'], ['rc-4']],
      ['rc-2', ['10923-16383'], []],
    ]);
    for (const n of t.nodes) expect(n.reachable).toBeNull();
  });
});
