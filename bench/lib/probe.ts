// A client in its own process (so neither the engine nor the benchmark's bookkeeping shares its
// event loop): an ioredis Cluster doing SET then GET over a fixed set of keys in a few loops,
// recording every command's latency, redirects included.
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

type ToChild = { kind: 'start'; nodes: { host: string; port: number }[]; workers: number } | { kind: 'stop' };
type ToParent = { kind: 'started' } | ({ kind: 'stopped' } & ProbeResult);

/** Epoch milliseconds with sub-millisecond precision, comparable across processes. */
export const now = (): number => performance.timeOrigin + performance.now();

export interface Probe {
  stop(): Promise<ProbeResult>;
}

export async function startProbe(nodes: { ip: string; port: number }[], workers = 4): Promise<Probe> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
  child.send({ kind: 'start', nodes: nodes.map((n) => ({ host: n.ip, port: n.port })), workers } satisfies ToChild);
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

async function runChild(): Promise<void> {
  let client: Cluster | undefined;
  const samples: Sample[] = [];
  let failures = 0;
  let stopped = false;
  let seq = 0;
  let loops: Promise<void>[] = [];
  process.on('message', async (m: ToChild) => {
    if (m.kind === 'start') {
      client = new Cluster(m.nodes);
      client.on('error', () => {});
      const loop = async () => {
        while (!stopped) {
          // A fixed set of keys: the client must not grow the data set the comparison is about.
          const key = `probe:${seq++ % 1000}`;
          for (const op of [() => client!.set(key, 'x'.repeat(32)), () => client!.get(key)]) {
            const t = now();
            try {
              await op();
              samples.push({ at: t, ms: now() - t });
            } catch {
              failures++;
            }
          }
        }
      };
      loops = Array.from({ length: m.workers }, loop);
      process.send!({ kind: 'started' } satisfies ToParent);
    } else {
      stopped = true;
      await Promise.all(loops);
      client?.disconnect();
      process.send!({ kind: 'stopped', samples, failures } satisfies ToParent, () => process.exit(0));
    }
  });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) await runChild();
