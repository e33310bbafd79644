// Small pieces the executor steps share: waiting, hash slots, and one merged picture of the
// cluster built from several nodes' reports.
import type { RedisPool } from '../connection.js';
import { endpointKey } from '../connection.js';
import type { ClusterNodeView, Endpoint, NodeReport } from '../types.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Polls check() until it returns a value other than undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The hash slot of a key (CRC16-XMODEM of the key or its {hash tag}, mod 16384). */
export function keySlot(key: string | Buffer): number {
  let buf = typeof key === 'string' ? Buffer.from(key) : key;
  const open = buf.indexOf(0x7b);
  if (open >= 0) {
    const close = buf.indexOf(0x7d, open + 1);
    if (close > open + 1) buf = buf.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc & 16383;
}

/** One node as the cluster sees it, merged from every reachable node's view. */
export interface NodeState {
  id: string;
  endpoint: Endpoint;
  /** Role the node gives itself when reachable, else the majority of the others' views. */
  role: 'master' | 'replica';
  masterId?: string;
  reachable: boolean;
  failing: boolean;
  /** Its own myself line when reachable. */
  self?: ClusterNodeView;
}

/** A merged picture of the cluster: nodes by id and each slot's owner by majority of views. */
export class ClusterMap {
  readonly nodes = new Map<string, NodeState>();
  readonly reports: NodeReport[];
  /** slot -> owner id: the claim with the highest config epoch in any view. */
  readonly owner: (string | undefined)[] = new Array(16384).fill(undefined);

  constructor(reports: NodeReport[]) {
    this.reports = reports;
    const votes = new Map<string, { ep: Endpoint; failing: number; seen: number; role: ClusterNodeView['role']; masterId?: string }>();
    for (const r of reports) {
      for (const v of r.nodes) {
        const cur = votes.get(v.id) ?? { ep: { ip: v.ip, port: v.port }, failing: 0, seen: 0, role: v.role, masterId: v.masterId };
        cur.seen++;
        if (v.flags.includes('fail') || v.flags.includes('fail?')) cur.failing++;
        votes.set(v.id, cur);
      }
    }
    for (const [id, v] of votes) {
      const own = reports.find((r) => r.myId === id);
      const self = own?.nodes.find((n) => n.flags.includes('myself'));
      this.nodes.set(id, {
        id,
        endpoint: own ? own.address : v.ep,
        role: self ? self.role : v.role,
        masterId: self ? self.masterId : v.masterId,
        reachable: !!own,
        failing: !own && v.failing > 0,
        self,
      });
    }
    // A slot belongs to the claim with the highest config epoch in any view: that is the claim
    // the cluster converges to (a promoted replica wins over its failed master, a finalised
    // target over its source).
    const epochOf: number[] = new Array(16384).fill(-1);
    for (const r of reports) {
      for (const v of r.nodes) {
        if (v.role !== 'master') continue;
        for (const range of v.slots) {
          for (let s = range.start; s <= range.end; s++) {
            if (v.configEpoch > epochOf[s]!) {
              epochOf[s] = v.configEpoch;
              this.owner[s] = v.id;
            }
          }
        }
      }
    }
  }

  /** Reachable masters (by their own word). */
  liveMasters(): NodeState[] {
    return [...this.nodes.values()].filter((n) => n.reachable && n.role === 'master');
  }

  /** Reachable replicas of master id (by their own word). */
  replicasOf(id: string): NodeState[] {
    return [...this.nodes.values()].filter((n) => n.reachable && n.role === 'replica' && n.masterId === id);
  }

  slotsOf(id: string): number[] {
    const out: number[] = [];
    for (let s = 0; s < 16384; s++) if (this.owner[s] === id) out.push(s);
    return out;
  }

  endpointOf(id: string): Endpoint {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`node ${id} is not known to the cluster`);
    return n.endpoint;
  }
}

/** Reads every endpoint (and every node those report) and merges the views. */
export async function readClusterMap(pool: RedisPool, endpoints: Endpoint[]): Promise<ClusterMap> {
  const seen = new Set(endpoints.map(endpointKey));
  const { reports } = await pool.readAll(endpoints);
  // Nodes the given endpoints know about but the caller did not list (e.g. after a restart elsewhere).
  const extra: Endpoint[] = [];
  for (const r of reports)
    for (const v of r.nodes) {
      const ep = { ip: v.ip, port: v.port };
      if (v.ip && v.port && !seen.has(endpointKey(ep)) && !v.flags.includes('fail') && !v.flags.includes('handshake')) {
        seen.add(endpointKey(ep));
        extra.push(ep);
      }
    }
  if (extra.length) reports.push(...(await pool.readAll(extra)).reports);
  return new ClusterMap(reports);
}
