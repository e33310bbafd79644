// Parsing of what Redis says about its cluster (`CLUSTER NODES`, `CLUSTER INFO`, `INFO`) into the
// typed model of types.ts. Pure: text in, data out.
import type { ClusterNodeView, NodeFlag, OpenSlot, SlotRange } from './types.js';

const KNOWN_FLAGS = new Set<NodeFlag>(['myself', 'master', 'slave', 'fail?', 'fail', 'handshake', 'noaddr', 'nofailover', 'noflags']);

/** Parses `ip:port@cport[,hostname]`; the ip is empty for a `noaddr` node (`:0@0`). */
export function parseAddress(field: string): { ip: string; port: number; busPort: number; hostname?: string } {
  const [addr = '', hostname] = field.split(',', 2);
  const at = addr.lastIndexOf('@');
  const hostPort = at >= 0 ? addr.slice(0, at) : addr;
  const busPort = at >= 0 ? Number(addr.slice(at + 1)) : 0;
  const colon = hostPort.lastIndexOf(':');
  const ip = hostPort.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(colon + 1));
  return hostname ? { ip, port, busPort, hostname } : { ip, port, busPort };
}

/** Parses one `CLUSTER NODES` line; throws on a line that is not in the documented format. */
export function parseClusterNodesLine(line: string): ClusterNodeView {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 8) throw new Error(`CLUSTER NODES line has ${fields.length} fields, expected at least 8: ${line}`);
  const [id, addr, flagField, master, pingSent, pongRecv, epoch, link, ...slotFields] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    ...string[],
  ];
  const flags = flagField.split(',').filter((f): f is NodeFlag => KNOWN_FLAGS.has(f as NodeFlag));
  const slots: SlotRange[] = [];
  const openSlots: OpenSlot[] = [];
  for (const token of slotFields) {
    if (token.startsWith('[')) {
      const m = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(token);
      if (m) {
        openSlots.push({ slot: Number(m[1]), state: m[2] === '>' ? 'migrating' : 'importing', peerId: m[3]! });
      }
      continue;
    }
    const dash = token.indexOf('-');
    const start = Number(dash < 0 ? token : token.slice(0, dash));
    const end = Number(dash < 0 ? token : token.slice(dash + 1));
    slots.push({ start, end });
  }
  const { ip, port, busPort, hostname } = parseAddress(addr);
  const role = flags.includes('slave') ? 'replica' : 'master';
  const view: ClusterNodeView = {
    id,
    ip,
    port,
    busPort,
    flags,
    role,
    pingSent: Number(pingSent),
    pongReceived: Number(pongRecv),
    configEpoch: Number(epoch),
    linkState: link === 'connected' ? 'connected' : 'disconnected',
    slots,
    openSlots,
  };
  if (hostname) view.hostname = hostname;
  if (master !== '-') view.masterId = master;
  return view;
}

/** Parses the whole `CLUSTER NODES` reply. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map(parseClusterNodesLine);
}

/** Parses `CLUSTER INFO` or an `INFO <section>` reply into a flat map (section headers dropped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/** Sorts and merges slot numbers or ranges into the fewest inclusive ranges. */
export function compactRanges(ranges: SlotRange[]): SlotRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: SlotRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

export function slotsToRanges(slots: Iterable<number>): SlotRange[] {
  return compactRanges([...slots].map((s) => ({ start: s, end: s })));
}

export function rangesToSlots(ranges: SlotRange[]): number[] {
  const out: number[] = [];
  for (const r of ranges) for (let s = r.start; s <= r.end; s++) out.push(s);
  return out;
}

export function countSlots(ranges: SlotRange[]): number {
  return ranges.reduce((n, r) => n + r.end - r.start + 1, 0);
}

/** `0-5460` or `42` for one slot; the form CR status and `CLUSTER NODES` use. */
export function formatRange(r: SlotRange): string {
  return r.start === r.end ? String(r.start) : `${r.start}-${r.end}`;
}

export function isUsable(view: ClusterNodeView): boolean {
  return !view.flags.some((f) => f === 'fail' || f === 'fail?' || f === 'handshake' || f === 'noaddr');
}
