// A ledger client that also times every write and reads its own keys back as it goes, in its own
// process: an ioredis Cluster writes `<prefix>:<n>` = `v<n>` at a fixed rate (open loop) and, for
// each write, reads back an earlier acknowledged key. A command that fails is retried briefly
// (redirects are ioredis's own); only one that still fails counts. Each acknowledged write keeps its
// slot, when it was sent and how long it took, so a test can tell which shard paused and for how long.
// With `wait`, a write counts as acknowledged only once `WAIT 1` says a replica has it too.
//
// startTimedLedger(nodes, rate) forks this file; stop() returns what it recorded.
import { fileURLToPath } from 'node:url';
import { Cluster, type Redis } from 'ioredis';
import { clientTls } from '../../shared/tls/secret.js';
import { keySlot } from '../../shared/redis/executor/util.js';
import './ioredis-asking.js';
import { ledgerKey, ledgerValue } from './ledger.js';
import { serveWorker, startWorker, type Worker } from './worker.js';

export interface TimedWrite {
  n: number;
  slot: number;
  sentAt: number;
  ms: number;
}

export interface TimedLedgerResult {
  writes: TimedWrite[];
  /** Commands that failed after their retries, by the first word of the error. */
  failures: Record<string, number>;
  /** Reads of an acknowledged key that came back with another value. */
  wrongReads: number;
  reads: number;
}

interface Start {
  nodes: { host: string; port: number }[];
  rate: number;
  prefix: string;
  /** How long a failed command is retried before it counts as failed. */
  retryMs: number;
  /** AUTH of the ledger's connections (an ACL user, or the default user's password alone). */
  auth?: { username?: string; password: string };
  /** The CA of a TLS cluster: the client then speaks TLS, checking the nodes against it. */
  tlsCa?: string;
  /** Acknowledged only after `WAIT 1`: a replica has the write as well. */
  wait?: boolean;
  /**
   * A command not answered within retryMs counts as failed (`Timeout`) instead of waiting: for a
   * client left behind by the cluster (it speaks a protocol the nodes no longer take), whose
   * commands would otherwise wait in its offline queue forever. An answer after that never counts.
   */
  giveUp?: boolean;
}

export type TimedLedger = Worker<TimedLedgerResult>;

export function startTimedLedger(
  nodes: { ip: string; port: number }[],
  rate: number,
  prefix = 'ledger',
  retryMs = 1000,
  options: Pick<Start, 'auth' | 'tlsCa' | 'wait' | 'giveUp'> = {},
): Promise<TimedLedger> {
  const start: Start = { nodes: nodes.map((n) => ({ host: n.ip, port: n.port })), rate, prefix, retryMs, ...options };
  return startWorker<Start, TimedLedgerResult>(fileURLToPath(import.meta.url), start);
}

/** The p-th percentile (0..100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A master's share of the keyspace: its Pod and slot ranges, as the cluster's status lists them. */
export interface Shard {
  pod: string;
  ranges: [number, number][];
}

/** The shards of the masters in a status node list (`slots` as "a-b" or "a"). */
export function shardsOf(nodes: { pod: string; role: string; slots?: string[] }[]): Shard[] {
  return nodes
    .filter((n) => n.role === 'master')
    .map((m) => ({
      pod: m.pod,
      ranges: (m.slots ?? []).map((r) => {
        const [a, b] = r.split('-').map(Number) as [number, number?];
        return [a, b ?? a];
      }),
    }));
}

export interface ShardLatency {
  pod: string;
  writes: number;
  p99: number;
  /** The longest single write: the shard's write pause, redirects and retries included. */
  longest: number;
}

/** Each shard's writes, p99 and longest write. */
export function latencyByShard(writes: TimedWrite[], shards: Shard[]): ShardLatency[] {
  return shards.map(({ pod, ranges }) => {
    const ms = writes.filter((w) => ranges.some(([a, b]) => w.slot >= a && w.slot <= b)).map((w) => w.ms);
    return { pod, writes: ms.length, p99: percentile(ms, 99), longest: ms.reduce((a, b) => Math.max(a, b), 0) };
  });
}

const TICK_MS = 10;
const WAIT_MS = 1000;

async function withRetry<T>(retryMs: number, run: () => Promise<T>, giveUp = false): Promise<T> {
  const until = Date.now() + retryMs;
  for (;;) {
    try {
      return await (giveUp ? answeredWithin(run(), until - Date.now()) : run());
    } catch (err) {
      if (Date.now() >= until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function answeredWithin<T>(answer: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timeout: no answer within ${ms} ms`)), Math.max(ms, 0));
  });
  return Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
}

/** The cluster client's connection to the node at `address` (host:port), unless it is down. */
function readyNode(client: Cluster, address: string | undefined): Redis | undefined {
  const node = client.nodes('all').find((n) => `${n.options.host}:${n.options.port}` === address);
  // A lazy connection ('wait') or one being made queues the pipeline; a closed one would fail it.
  return node && !['end', 'close', 'reconnecting'].includes(node.status) ? node : undefined;
}

/**
 * SET then `WAIT 1` in one pipeline on the connection of the key's master, so the WAIT counts that
 * master's replicas and no other's. A MOVED or ASK reply to the SET sends both to the node it names
 * (after ASKING, for ASK), as a cluster client does for a single command. While the client has no
 * open connection to that node (it failed over, or is new), the pipeline goes through the cluster
 * client, which queues it until its slot map and connections are back. A write is acknowledged only
 * once a replica has it.
 */
async function setAndWait(client: Cluster, key: string, value: string): Promise<void> {
  let node = readyNode(client, client.slots[keySlot(key)]?.[0]);
  let asking = false;
  for (let hop = 0; hop < 8; hop++) {
    const pipeline = (node ?? client).pipeline();
    if (asking && node) pipeline.asking();
    const replies = ((await pipeline.set(key, value).wait(1, WAIT_MS).exec()) ?? []).slice(asking && node ? 1 : 0);
    const [setError] = replies[0] ?? [];
    const redirect = setError && /^(MOVED|ASK) \d+ (.+:\d+)$/.exec(setError.message);
    if (setError && !redirect) throw setError;
    if (redirect) {
      if (redirect[1] === 'MOVED') client.refreshSlotsCache();
      asking = redirect[1] === 'ASK';
      node = readyNode(client, redirect[2]);
      continue;
    }
    if (replies[1]?.[0]) throw replies[1][0];
    if (Number(replies[1]?.[1] ?? 0) < 1) throw new Error('NOREPLICA no replica acknowledged the write');
    return;
  }
  throw new Error(`REDIRECTS the SET of ${key} was redirected 8 times`);
}

function runChild(): void {
  let client: Cluster | undefined;
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  let giveUp = false;
  let inFlight = 0;
  const writes: TimedWrite[] = [];
  const result: TimedLedgerResult = { writes, failures: {}, wrongReads: 0, reads: 0 };
  const fail = (err: Error) => {
    const kind = err.message.split(' ')[0] ?? 'error';
    result.failures[kind] = (result.failures[kind] ?? 0) + 1;
  };
  const start = (m: Start): void => {
    giveUp = !!m.giveUp;
    client = new Cluster(m.nodes, {
      enableReadyCheck: true,
      maxRedirections: 32,
      retryDelayOnTryAgain: 50,
      retryDelayOnClusterDown: 100,
      retryDelayOnFailover: 100,
      redisOptions: { ...(m.auth ?? {}), ...(m.tlsCa ? { tls: clientTls(m.tlsCa) } : {}) },
    });
    // Each command's error is counted where it fails; the client's own events would only repeat it.
    client.on('error', () => undefined);
    const perTick = (m.rate * TICK_MS) / 1000;
    const started = Date.now();
    const one = async (n: number) => {
      const sentAt = Date.now();
      const key = ledgerKey(m.prefix, n);
      await withRetry(
        m.retryMs,
        async () => {
          if (m.wait) await setAndWait(client!, key, ledgerValue(n));
          else await client!.set(key, ledgerValue(n));
        },
        m.giveUp,
      );
      writes.push({ n, slot: keySlot(key), sentAt, ms: Date.now() - sentAt });
      // Read back an earlier acknowledged write: a value lost or stale shows at once.
      const earlier = writes[Math.floor(Math.random() * writes.length)]!;
      const value = await withRetry(m.retryMs, () => client!.get(ledgerKey(m.prefix, earlier.n)), m.giveUp);
      result.reads++;
      if (value !== ledgerValue(earlier.n)) result.wrongReads++;
    };
    timer = setInterval(() => {
      const due = ((Date.now() - started) / 1000) * m.rate;
      while (seq < due && inFlight < 50 * perTick) {
        inFlight++;
        one(seq++)
          .catch(fail)
          .finally(() => inFlight--);
      }
    }, TICK_MS);
  };
  const stop = async (): Promise<TimedLedgerResult> => {
    clearInterval(timer);
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    // A client no node answers any more would wait on QUIT for ever.
    if (giveUp) client?.disconnect();
    else await client?.quit().catch(() => undefined);
    return result;
  };
  serveWorker(start, stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runChild();
