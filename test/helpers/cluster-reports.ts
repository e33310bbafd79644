// Cluster reports for the engine's pure tests, built from CLUSTER NODES text as each node prints it
// (its own line flagged `myself`) and parsed by the real parser.
import { parseClusterNodes } from '../../shared/redis/topology.js';
import type { DesiredNode, NodeReport } from '../../shared/redis/types.js';

// A 3x1 cluster: masters A B C, replicas D(A) E(B) F(C).
export const id = (c: string) => c.repeat(40);
export const [A, B, C, D, E, F, G] = ['a', 'b', 'c', 'd', 'e', 'f', '9'].map(id) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
export const ALL = [A, B, C, D, E, F];

export interface Line {
  id: string;
  addr: string;
  flags: string;
  master: string;
  epoch: number;
  slots: string;
}

export const ipOf = (n: string) => `10.0.0.${ALL.indexOf(n) + 1}`;

export function healthy(): Line[] {
  const l = (n: string, role: string, master: string, epoch: number, slots = ''): Line => ({
    id: n,
    addr: `${ipOf(n)}:7000@17000`,
    flags: role,
    master,
    epoch,
    slots,
  });
  return [
    l(A, 'master', '-', 1, '0-5460'),
    l(B, 'master', '-', 2, '5461-10922'),
    l(C, 'master', '-', 3, '10923-16383'),
    l(D, 'slave', A, 1),
    l(E, 'slave', B, 2),
    l(F, 'slave', C, 3),
  ];
}

/** `lines` with some lines changed (by id) and extra lines appended. */
export function edit(lines: Line[], changes: Record<string, Partial<Line>>, extra: Line[] = []): Line[] {
  return [...lines.map((x) => ({ ...x, ...changes[x.id] })), ...extra];
}

export function report(me: string, lines: Line[] = healthy(), opts: { address?: string; offset?: number; keys?: number } = {}): NodeReport {
  const text = lines
    .map((x) => {
      const flags = x.id === me ? `myself,${x.flags}` : x.flags;
      return `${x.id} ${x.addr} ${flags} ${x.master} 0 0 ${x.epoch} connected ${x.slots}`.trim();
    })
    .join('\n');
  const nodes = parseClusterNodes(text);
  const self = nodes.find((n) => n.id === me)!;
  const [ip, port] = (opts.address ?? `${self.ip}:${self.port}`).split(':') as [string, string];
  return {
    address: { ip, port: Number(port) },
    myId: me,
    nodes,
    clusterState: 'ok',
    clusterInfo: { cluster_state: 'ok' },
    replication:
      self.role === 'replica'
        ? { role: 'slave', master_link_status: 'up', master_sync_in_progress: '0', slave_repl_offset: String(opts.offset ?? 100) }
        : { role: 'master' },
    keys: opts.keys ?? 0,
  };
}

export const desired = (ids: string[]): DesiredNode[] =>
  ids.map((n) => ({ name: `rc-${ALL.indexOf(n)}`, ip: ipOf(n), port: 7000, busPort: 17000, domain: `host-${ALL.indexOf(n) % 3}` }));
