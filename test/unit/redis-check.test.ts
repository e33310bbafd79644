import { describe, expect, it } from 'vitest';
import {
  checkCluster,
  configSignature,
  mastersOf,
  ownersFromView,
  replicasOf,
  slotOwners,
  viewDifferences,
  viewsAgree,
  type CheckExpectations,
} from '../../shared/redis/check.js';
import { mergedView } from '../../shared/redis/view.js';
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { ClusterProblem, DesiredNode, NodeReport } from '../../shared/redis/types.js';

// A 3-master, 3-replica cluster described once; every report is built from CLUSTER NODES text as the
// node itself would print it (its own line flagged `myself`), then parsed by the real parser.
interface Line {
  id: string;
  ip: string;
  port: number;
  flags: string;
  master: string;
  epoch: number;
  link: string;
  slots: string;
}

const id = (c: string) => c.repeat(40);
const A = id('a');
const B = id('b');
const C = id('c');
const D = id('d');
const E = id('e');
const F = id('f');

function healthyLines(): Line[] {
  const l = (i: string, n: number, flags: string, master: string, epoch: number, slots = ''): Line => ({
    id: i,
    ip: `10.0.0.${n}`,
    port: 7000,
    flags,
    master,
    epoch,
    link: 'connected',
    slots,
  });
  return [
    l(A, 1, 'master', '-', 1, '0-5460'),
    l(B, 2, 'master', '-', 2, '5461-10922'),
    l(C, 3, 'master', '-', 3, '10923-16383'),
    l(D, 4, 'slave', A, 1),
    l(E, 5, 'slave', B, 2),
    l(F, 6, 'slave', C, 3),
  ];
}

function text(lines: Line[], me: string): string {
  return lines
    .map((x) => {
      const flags = x.id === me ? `myself,${x.flags}` : x.flags;
      return `${x.id} ${x.ip}:${x.port}@${x.port + 10000} ${flags} ${x.master} 0 0 ${x.epoch} ${x.link} ${x.slots}`.trim();
    })
    .join('\n');
}

/** The report of node `me`, seeing `lines` (by default everyone sees the healthy cluster). */
function report(me: string, lines: Line[] = healthyLines(), extra: Partial<NodeReport> = {}): NodeReport {
  const nodes = parseClusterNodes(text(lines, me));
  const self = nodes.find((n) => n.id === me)!;
  const replica = self.role === 'replica';
  return {
    address: { ip: self.ip, port: self.port },
    myId: me,
    nodes,
    clusterState: 'ok',
    clusterInfo: { cluster_state: 'ok' },
    replication: replica
      ? { role: 'slave', master_link_status: 'up', master_sync_in_progress: '0' }
      : { role: 'master', connected_slaves: '1' },
    keys: 0,
    ...extra,
  };
}

const ALL = [A, B, C, D, E, F];
const DESIRED: DesiredNode[] = ALL.map((_, i) => ({
  name: `redis-${i}`,
  ip: `10.0.0.${i + 1}`,
  port: 7000,
  busPort: 17000,
  domain: `h${(i % 3) + 1}`,
}));
// Replicas d, e, f sit on h1, h2, h3 next to masters a, b, c on h1, h2, h3: shift them so none shares.
const DOMAINS: Record<string, string> = { [A]: 'h1', [B]: 'h2', [C]: 'h3', [D]: 'h2', [E]: 'h3', [F]: 'h1' };
const EXPECT: CheckExpectations = { nodes: DESIRED, masters: 3, replicasPerMaster: 1, domains: DOMAINS };

const found = (problems: ClusterProblem[]) => problems.map((p) => `${p.code}${p.nodeId ? `:${p.nodeId[0]}` : ''}`).sort();

describe('checkCluster on a healthy cluster', () => {
  it('finds nothing', () => {
    const reports = ALL.map((n) => report(n));
    expect(checkCluster(reports, EXPECT)).toEqual([]);
    expect(viewsAgree(reports)).toBe(true);
  });

  it('reports nothing it cannot see: no expectations, one report', () => {
    expect(checkCluster([report(A)])).toEqual([]);
  });
});

describe('checkCluster with many simultaneous problems', () => {
  // a: has slot 100 open towards b, sees f as fail? and a ghost g (fail) and a node in handshake.
  // b: importing slot 100 from a, sees c at an old address, shares config epoch 2 with c.
  // c: no longer claims 16001-16383.
  // d: reports cluster_state:fail and sits in its master's domain.
  // e: its replication link is down.
  // redis-6 (10.0.0.7) is desired but never answered.
  const G = id('9');
  const H = id('8');
  function linesFor(me: string): Line[] {
    const lines = healthyLines();
    const at = (i: string) => lines.find((x) => x.id === i)!;
    at(C).slots = '10923-16000';
    at(C).epoch = 2;
    at(F).epoch = 2;
    lines.push({ id: G, ip: '10.0.0.99', port: 7000, flags: 'master,fail', master: '-', epoch: 9, link: 'disconnected', slots: '' });
    if (me === A) {
      at(A).slots = `0-5460 [100->-${B}]`;
      at(F).flags = 'slave,fail?';
      lines.push({ id: H, ip: '10.0.0.50', port: 7000, flags: 'handshake', master: '-', epoch: 0, link: 'disconnected', slots: '' });
    }
    if (me === B) {
      at(B).slots = `5461-10922 [100-<-${A}]`;
      at(C).ip = '10.0.0.33';
    }
    return lines;
  }
  const reports = ALL.map((n) =>
    report(n, linesFor(n), {
      ...(n === D ? { clusterState: 'fail' as const } : {}),
      ...(n === E ? { replication: { role: 'slave', master_link_status: 'down', master_sync_in_progress: '1' } } : {}),
    }),
  );
  const desired = [...DESIRED, { name: 'redis-6', ip: '10.0.0.7', port: 7000, busPort: 17000, domain: 'h3' }];
  const domains = { ...DOMAINS, [D]: 'h1' };

  it('reports every one of them', () => {
    const problems = checkCluster(reports, { ...EXPECT, nodes: desired, domains, masters: 4 });
    const codes = found(problems);
    for (const expected of [
      'unreachable',
      'state-not-ok:d',
      'views-disagree',
      'slots-uncovered',
      'open-slot:a',
      'open-slot:b',
      'epoch-collision:b',
      'node-failing:f',
      'node-failing:9',
      'handshake:8',
      'ghost-node:9',
      'ghost-node:8',
      'address-mismatch:c',
      'masters-mismatch',
      'replica-not-synced:e',
      'anti-affinity:d',
    ]) {
      expect(codes).toContain(expected);
    }
    const uncovered = problems.find((p) => p.code === 'slots-uncovered')!;
    expect(uncovered.message).toContain('383 slots');
    expect(uncovered.message).toContain('16001-16383');
    expect(uncovered.slot).toBe(16001);
    expect(problems.find((p) => p.code === 'unreachable')!.message).toContain('redis-6 (10.0.0.7:7000)');
    expect(problems.find((p) => p.code === 'address-mismatch')!.message).toContain(`${B} sees 10.0.0.33:7000@17000`);
    expect(problems.find((p) => p.code === 'epoch-collision')!.message).toMatch(/share config epoch 2/);
    expect(problems.filter((p) => p.code === 'open-slot').map((p) => p.slot)).toEqual([100, 100]);
    // Only what is wrong: the healthy nodes are not accused.
    expect(codes).not.toContain('ghost-node:a');
    expect(codes).not.toContain('state-not-ok:a');
    expect(codes).not.toContain('anti-affinity:e');
    expect(codes).not.toContain('replica-not-synced:d');
  });

  it('lets a recorded migration keep its slot open', () => {
    const problems = checkCluster(reports, { ...EXPECT, nodes: desired, allowedOpenSlots: [100] });
    expect(found(problems).filter((c) => c.startsWith('open-slot'))).toEqual([]);
  });

  it('names each node under the aspect it disagrees on', () => {
    const moved = healthyLines();
    moved.find((x) => x.id === A)!.slots = '0-5459';
    moved.find((x) => x.id === B)!.slots = '5460-10922';
    const readdressed = healthyLines();
    readdressed.find((x) => x.id === E)!.ip = '10.0.0.55';
    const extra = [...healthyLines(), { ...healthyLines()[0]!, id: id('7'), ip: '10.0.0.77', flags: 'master', slots: '' }];
    const diffs = viewDifferences([report(A), report(B, moved), report(C, readdressed), report(D, extra), report(E)]);
    expect(diffs).toEqual([
      `${D} see the set of node ids differently from ${A}`,
      `${C} see roles, masters or addresses differently from ${A}`,
      `${B} see slot ownership differently from ${A}`,
    ]);
  });

  it('says which views differ', () => {
    const diffs = viewDifferences(reports);
    expect(diffs.length).toBeGreaterThan(0);
    expect(diffs[0]).toContain('the set of node ids');
    expect(viewsAgree(reports)).toBe(false);
  });
});

describe('checkCluster, single checks', () => {
  it('finds two masters claiming the same slots', () => {
    const reports = ALL.map((n) => {
      const lines = healthyLines();
      if (n === B) lines.find((x) => x.id === B)!.slots = '0-10 5461-10922';
      return report(n, lines);
    });
    const overlap = checkCluster(reports).filter((p) => p.code === 'slots-overlap');
    expect(overlap).toHaveLength(1);
    expect(overlap[0]!.message).toBe(`slots 0-10 are claimed by ${A} and ${B}`);
  });

  it('counts replicas per master against the spec, healthy ones only', () => {
    const lines = healthyLines();
    lines.find((x) => x.id === F)!.master = B;
    lines.find((x) => x.id === F)!.flags = 'slave';
    const reports = ALL.map((n) => report(n, lines));
    const problems = checkCluster(reports, { replicasPerMaster: 1 });
    expect(found(problems)).toEqual(['replica-excess:b', 'replica-missing:c']);
    // A failing replica is not counted as one.
    const failing = healthyLines();
    failing.find((x) => x.id === D)!.flags = 'slave,fail';
    const withoutD = [A, B, C, E, F].map((n) => report(n, failing));
    expect(found(checkCluster(withoutD, { replicasPerMaster: 1 }))).toEqual(['node-failing:d', 'replica-missing:a']);
  });

  it('does not call a desired node that is down a ghost, but does call a stranger one', () => {
    const reports = [A, B, C, E, F].map((n) => report(n));
    const problems = checkCluster(reports, { nodes: DESIRED });
    expect(found(problems)).toEqual(['unreachable:d']);
    // Without d among the desired nodes, its id is a ghost.
    const problems2 = checkCluster(reports, { nodes: DESIRED.filter((d) => d.ip !== '10.0.0.4') });
    expect(found(problems2)).toEqual(['ghost-node:d']);
  });

  it('measures replica lag against the master when a bound is given', () => {
    const reports = ALL.map((n) => {
      const r = report(n);
      if (n === A) r.replication = { role: 'master', master_repl_offset: '5000' };
      if (n === D) r.replication = { ...r.replication, slave_repl_offset: '1000' };
      return r;
    });
    expect(checkCluster(reports, { maxReplicaLag: 10_000 })).toEqual([]);
    const problems = checkCluster(reports, { maxReplicaLag: 1000 });
    expect(found(problems)).toEqual(['replica-not-synced:d']);
    expect(problems[0]!.message).toContain('by 4000 bytes');
  });

  it('sees a disconnected link as failing', () => {
    const lines = healthyLines();
    lines.find((x) => x.id === C)!.link = 'disconnected';
    const problems = checkCluster([report(A, lines), report(C)]);
    expect(found(problems)).toEqual(['node-failing:c']);
    expect(problems[0]!.message).toContain('link disconnected');
  });
});

describe('view helpers', () => {
  const view = parseClusterNodes(text(healthyLines(), A));

  it('slotOwners maps every slot to its master', () => {
    const owners = slotOwners(view);
    expect(owners).toHaveLength(16384);
    expect(owners[0]).toBe(A);
    expect(owners[5461]).toBe(B);
    expect(owners[16383]).toBe(C);
    expect(slotOwners(view.filter((n) => n.id !== C))[16383]).toBeUndefined();
  });

  it('mastersOf, replicasOf and ownersFromView', () => {
    expect(mastersOf(view).map((n) => n.id)).toEqual([A, B, C]);
    expect(replicasOf(view, B).map((n) => n.id)).toEqual([E]);
    expect(ownersFromView(view).get(C)).toEqual([{ start: 10923, end: 16383 }]);
  });

  it('configSignature ignores line order, observers and open slots, not ownership', () => {
    const lines = healthyLines();
    const shuffled = [...lines].reverse();
    const withOpen = healthyLines();
    withOpen.find((x) => x.id === A)!.slots = `0-5460 [100->-${B}]`;
    const sig = configSignature(view);
    expect(sig).toBe(`${A}:0-5460|${B}:5461-10922|${C}:10923-16383`);
    expect(configSignature(parseClusterNodes(text(shuffled, C)))).toBe(sig);
    expect(configSignature(parseClusterNodes(text(withOpen, A)))).toBe(sig);
    const moved = healthyLines();
    moved.find((x) => x.id === A)!.slots = '0-5459';
    moved.find((x) => x.id === B)!.slots = '5460-10922';
    expect(configSignature(parseClusterNodes(text(moved, A)))).not.toBe(sig);
  });

  it('mergedView prefers each node’s own line', () => {
    const lines = healthyLines();
    lines.find((x) => x.id === B)!.slots = '5461-10921';
    const merged = mergedView([report(A, lines), report(B)]);
    expect(merged.find((n) => n.id === B)!.slots).toEqual([{ start: 5461, end: 10922 }]);
    expect(merged).toHaveLength(6);
  });
});
