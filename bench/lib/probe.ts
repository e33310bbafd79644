// A client in its own process (so neither the engine nor the benchmark's bookkeeping shares its
// event loop): an ioredis Cluster sending SET and GET over a fixed set of keys at a fixed rate,
// whatever the answers' pace (open loop, as an application's traffic is). Each command's latency
// runs from when it was due, not when it went out: a stalled client or server shows in the
// figures instead of lowering the load (no coordinated omission). A fixed rate is also what makes
// "the same load" the same for every path compared: a client looping as fast as it can takes
// whatever CPU the path leaves it, and a path that starves it looks faster.
//
// startProbe(nodes) forks this file; the child reports its samples when told to stop.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Cluster } from 'ioredis';
import '../../test/helpers/ioredis-asking.js';

export interface Sample {
  /** Epoch milliseconds (fractional) when the command was sent. */
  at: number;
  ms: number;
}

export interface ProbeResult {
  samples: Sample[];
  failures: number;
}

type ToChild = { kind: 'start'; nodes: { host: string; port: number }[]; rate: number } | { kind: 'stop' };
type ToParent = { kind: 'started' } | ({ kind: 'stopped' } & ProbeResult);

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now();

export interface Probe {
  stop(): Promise<ProbeResult>;
}

/** Commands per second the probe sends unless told otherwise. */
export const PROBE_RATE = 2000;

export async function startProbe(nodes: { ip: string; port: number }[], rate = PROBE_RATE): Promise<Probe> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <K extends ToParent['kind']>(kind: K) =>
    new Promise<Extract<ToParent, { kind: K }>>((resolve, reject) => {
      const onMessage = (m: ToParent) => {
        if (m.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<ToParent, { kind: K }>);
      };
      const onExit = (code: number | null) => reject(new Error(`the probe process exited (${code}) before "${kind}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const started = next('started');
  child.send({ kind: 'start', nodes: nodes.map((n) => ({ host: n.ip, port: n.port })), rate } satisfies ToChild);
  await started;
  return {
    async stop() {
      const stopped = next('stopped');
      child.send({ kind: 'stop' } satisfies ToChild);
      const { samples, failures } = await stopped;
      child.disconnect();
      return { samples, failures };
    },
  };
}

/** Commands in flight at most; beyond it, due commands wait (their latency still counts from when they were due). */
const MAX_IN_FLIGHT = 10_000;

async function runChild(): Promise<void> {
  let client: Cluster | undefined;
  const samples: Sample[] = [];
  let failures = 0;
  let stopped = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  process.on('message', async (m: ToChild) => {
    if (m.kind === 'start') {
      client = new Cluster(m.nodes);
      client.on('error', () => {});
      const interval = 1000 / m.rate;
      const start = now();
      let sent = 0;
      const send = (n: number) => {
        const due = start + n * interval;
        // A fixed set of keys: the client must not grow the data set the comparison is about.
        const key = `probe:${Math.floor(n / 2) % 1000}`;
        inFlight++;
        (n % 2 === 0 ? client!.set(key, 'x'.repeat(32)) : client!.get(key))
          .then(
            () => void samples.push({ at: due, ms: now() - due }),
            () => void failures++,
          )
          .finally(() => {
            inFlight--;
            if (stopped && inFlight === 0) drained?.();
          });
      };
      const tick = () => {
        const due = Math.floor((now() - start) / interval);
        while (sent <= due && inFlight < MAX_IN_FLIGHT) send(sent++);
        timer = setTimeout(tick, 1);
      };
      tick();
      process.send!({ kind: 'started' } satisfies ToParent);
    } else {
      stopped = true;
      clearTimeout(timer);
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      client?.disconnect();
      process.send!({ kind: 'stopped', samples, failures } satisfies ToParent, () => process.exit(0));
    }
  });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) await runChild();
