// A ledger client in its own process (so its load does not share the platform's event loop): an
// ioredis Cluster writing `<prefix>:<n>` = `v<n>` at a fixed rate, open loop, and recording which
// writes Redis acknowledged. Data safety is then a count: every acknowledged key must read back
// with its value.
//
// startLedger(nodes, rate) forks this file; stop() returns the acknowledged sequence numbers.
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import './ioredis-asking.js';
import { serveWorker, startWorker, type Worker } from './worker.js';

export interface LedgerResult {
  acknowledged: number[];
  failures: Record<string, number>;
}

interface LedgerStart {
  nodes: { host: string; port: number }[];
  rate: number;
  prefix: string;
}

export type Ledger = Worker<LedgerResult>;

export const ledgerKey = (prefix: string, n: number): string => `${prefix}:${n}`;
export const ledgerValue = (n: number): string => `v${n}`;

/** The acknowledged writes that do not read back with their value. */
export async function missingWrites(client: Cluster, acknowledged: number[], prefix = 'ledger'): Promise<number[]> {
  const lost: number[] = [];
  for (let i = 0; i < acknowledged.length; i += 1000) {
    const chunk = acknowledged.slice(i, i + 1000);
    const values = await Promise.all(chunk.map((n) => client.get(ledgerKey(prefix, n))));
    chunk.forEach((n, j) => values[j] !== ledgerValue(n) && lost.push(n));
  }
  return lost;
}

export function startLedger(nodes: { ip: string; port: number }[], rate: number, prefix = 'ledger'): Promise<Ledger> {
  const start: LedgerStart = { nodes: nodes.map((n) => ({ host: n.ip, port: n.port })), rate, prefix };
  return startWorker<LedgerStart, LedgerResult>(fileURLToPath(import.meta.url), start);
}

const TICK_MS = 10;

function runChild(): void {
  let client: Cluster | undefined;
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  let inFlight = 0;
  const acknowledged: number[] = [];
  const failures: Record<string, number> = {};
  const start = (m: LedgerStart): void => {
    client = new Cluster(m.nodes, { enableReadyCheck: true, maxRedirections: 32, retryDelayOnTryAgain: 50, retryDelayOnClusterDown: 100 });
    const perTick = (m.rate * TICK_MS) / 1000;
    const started = Date.now();
    timer = setInterval(() => {
      // Open loop: what is due by now goes out, however the earlier writes are doing.
      const due = ((Date.now() - started) / 1000) * m.rate;
      while (seq < due && inFlight < 20 * perTick) {
        const n = seq++;
        inFlight++;
        client!
          .set(ledgerKey(m.prefix, n), ledgerValue(n))
          .then(
            () => acknowledged.push(n),
            (err: Error) => {
              const kind = err.message.split(' ')[0] ?? 'error';
              failures[kind] = (failures[kind] ?? 0) + 1;
            },
          )
          .finally(() => inFlight--);
      }
    }, TICK_MS);
  };
  const stop = async (): Promise<LedgerResult> => {
    clearInterval(timer);
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    await client?.quit().catch(() => undefined);
    return { acknowledged, failures };
  };
  serveWorker(start, stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runChild();
