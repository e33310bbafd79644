// Host processes standing in for containers: each in its own process group (so a container's
// children die with it), logged to a file, and killed when the kubelet's own process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const liveGroups = new Set<number>();
let handlersInstalled = false;

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function killAllNow(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  liveGroups.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllNow();
      // Only when nobody else handles the signal do we restore its default meaning (exit).
      if (process.listenerCount(signal) === 1) process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[signal]);
    };
    process.on(signal, handler);
  }
}

export interface ContainerProcess {
  pid: number;
  child: ChildProcess;
  /** Resolves once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
}

/** Starts the process; rejects when it cannot be started at all (e.g. the program is missing). */
export function startProcess(spec: SpawnSpec): Promise<ContainerProcess> {
  installExitHandlers();
  return new Promise((resolve, reject) => {
    const log = fs.openSync(spec.logFile, 'a');
    const child = spawn(spec.file, spec.args, { cwd: spec.cwd, env: spec.env, detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
      child.once('exit', (code, signal) => {
        // A container ends with its main process: whatever else it started goes with it.
        if (child.pid !== undefined) {
          killGroup(child.pid, 'SIGKILL');
          liveGroups.delete(child.pid);
        }
        done({ code, signal });
      });
    });
    child.once('error', (err) => {
      if (child.pid === undefined) reject(err);
    });
    child.once('spawn', () => {
      liveGroups.add(child.pid!);
      resolve({ pid: child.pid!, child, exited });
    });
  });
}

/** SIGTERM to the whole group, SIGKILL after the grace period if it is still there. */
export async function stopProcess(proc: ContainerProcess, graceMs: number): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  killGroup(proc.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs);
  });
  const outcome = await Promise.race([proc.exited.then(() => 'exited' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    killGroup(proc.pid, 'SIGKILL');
    await proc.exited;
  }
  // Leftover children of the group (a shell's background jobs) go too.
  killGroup(proc.pid, 'SIGKILL');
}
