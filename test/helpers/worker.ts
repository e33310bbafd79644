// A client that runs in its own process, so its load shares no event loop with what it measures
// (the platform, the engine, the test's bookkeeping): the parent forks a file and tells it to
// start and to stop; the child answers with what it recorded.
import { fork, type ChildProcess } from 'node:child_process';

type ToChild<S> = { kind: 'start'; start: S } | { kind: 'stop' };
type ToParent<R> = { kind: 'started' } | { kind: 'stopped'; result: R };

export interface Worker<R> {
  stop(): Promise<R>;
}

/** Forks `file` (run with tsx), sends it `start`, and resolves once it has started. */
export async function startWorker<S, R>(file: string, start: S): Promise<Worker<R>> {
  const child: ChildProcess = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <K extends ToParent<R>['kind']>(kind: K) =>
    new Promise<Extract<ToParent<R>, { kind: K }>>((resolve, reject) => {
      const onMessage = (m: ToParent<R>) => {
        if (m.kind !== kind) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<ToParent<R>, { kind: K }>);
      };
      const onExit = (code: number | null) => reject(new Error(`the worker ${file} exited (${code}) before "${kind}"`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const started = next('started');
  child.send({ kind: 'start', start } satisfies ToChild<S>);
  await started;
  return {
    async stop() {
      const stopped = next('stopped');
      child.send({ kind: 'stop' } satisfies ToChild<S>);
      const { result } = await stopped;
      child.disconnect();
      return result;
    },
  };
}

/** The child's side: `onStart` when told to start, `onStop`'s result sent back, then exit. */
export function serveWorker<S, R>(onStart: (start: S) => void, onStop: () => Promise<R>): void {
  // The parent gone (a test failed before stop(), its process ended): nobody will read the result.
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: ToChild<S>) => {
    if (m.kind === 'start') {
      onStart(m.start);
      process.send!({ kind: 'started' } satisfies ToParent<R>);
    } else {
      void onStop().then((result) => process.send!({ kind: 'stopped', result } satisfies ToParent<R>, () => process.exit(0)));
    }
  });
}
