// A ledger client in its own process (so its load does not share the platform's event loop): an
// ioredis Cluster writing `<prefix>:<n>` = `v<n>` at a fixed rate, open loop, and recording which
// writes Redis acknowledged. Data safety is then a count: every acknowledged key must read back
// with its value.
//
// startLedger(nodes, rate) forks this file; stop() returns the acknowledged sequence numbers.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import './ioredis-asking.js';

export interface LedgerResult {
  acknowledged: number[];
  failures: Record<string, number>;
}

type ToChild = { kind: 'start'; nodes: { host: string; port: number }[]; rate: number; prefix: string } | { kind: 'stop' };
type ToParent = { kind: 'started' } | ({ kind: 'stopped' } & LedgerResult);

export interface Ledger {
  stop(): Promise<LedgerResult>;
}

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

export async function startLedger(nodes: { ip: string; port: number }[], rate: number, prefix = 'ledger'): Promise<Ledger> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <K extends ToParent['kind']>(kind: K) =>
    new Promise<Extract<ToParent, { kind: K }>>((resolve, reject) => {
      const onMessage = (m: ToParent) => {
        if (m.kind !== kind) return;
        child.off('message', onMessage);
        resolve(m as Extract<ToParent, { kind: K }>);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`the ledger process exited (${code}) before "${kind}"`)));
    });
  const started = next('started');
  child.send({ kind: 'start', nodes: nodes.map((n) => ({ host: n.ip, port: n.port })), rate, prefix } satisfies ToChild);
  await started;
  return {
    async stop() {
      const stopped = next('stopped');
      child.send({ kind: 'stop' } satisfies ToChild);
      const { acknowledged, failures } = await stopped;
      child.disconnect();
      return { acknowledged, failures };
    },
  };
}

const TICK_MS = 10;

function runChild(): void {
  let client: Cluster | undefined;
  let timer: NodeJS.Timeout | undefined;
  let seq = 0;
  let inFlight = 0;
  const acknowledged: number[] = [];
  const failures: Record<string, number> = {};
  process.on('message', (m: ToChild) => {
    if (m.kind === 'start') {
      client = new Cluster(m.nodes, {
        enableReadyCheck: true,
        maxRedirections: 32,
        retryDelayOnTryAgain: 50,
        retryDelayOnClusterDown: 100,
      });
      const perTick = (m.rate * TICK_MS) / 1000;
      let due = 0;
      const started = Date.now();
      timer = setInterval(() => {
        // Open loop: what is due by now goes out, however the earlier writes are doing.
        due = ((Date.now() - started) / 1000) * m.rate;
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
      process.send!({ kind: 'started' } satisfies ToParent);
    } else {
      clearInterval(timer);
      const waitIdle = (): void => {
        if (inFlight > 0) return void setTimeout(waitIdle, 20);
        void client?.quit().catch(() => undefined);
        process.send!({ kind: 'stopped', acknowledged, failures } satisfies ToParent, () => process.exit(0));
      };
      waitIdle();
    }
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) runChild();
