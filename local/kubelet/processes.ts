// Host processes standing in for containers: each in its own process group (so a container's
// children die with it), logged to a file (its lines timed by a LogRecorder), and killed when the
// kubelet's own process exits. Exit and signal handlers cover an orderly end; a watchdog covers a
// kubelet process killed outright.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogRecorder } from './log-recorder.js';

const liveGroups = new Set<number>();
let handlersInstalled = false;
let groupsFile: string | undefined;

function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The watchdog reads the live groups from this file. */
function recordGroups(): void {
  if (!groupsFile) return;
  try {
    fs.writeFileSync(groupsFile, [...liveGroups].join(' '));
  } catch {
    // the watchdog then kills what the file listed last; the handlers still cover orderly exits
  }
}

function killAllNow(): void {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  liveGroups.clear();
  recordGroups();
}

/**
 * A detached shell that outlives a SIGKILLed kubelet process: once that process is gone it kills
 * every group listed in the file, so no Redis process is left behind.
 */
function startWatchdog(): void {
  groupsFile = path.join(os.tmpdir(), `local-kubelet-groups-${process.pid}`);
  fs.writeFileSync(groupsFile, '');
  const file = JSON.stringify(groupsFile);
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; for g in $(cat ${file} 2>/dev/null); do kill -9 -$g 2>/dev/null; done; rm -f ${file}`;
  const watchdog = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  startWatchdog();
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
    let recorder: Promise<LogRecorder | undefined> = Promise.resolve(undefined);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
      child.once('exit', (code, signal) => {
        void recorder.then((r) => r?.close());
        // A container ends with its main process: whatever else it started goes with it.
        if (child.pid !== undefined) {
          killGroup(child.pid, 'SIGKILL');
          liveGroups.delete(child.pid);
          recordGroups();
        }
        done({ code, signal });
      });
    });
    child.once('error', (err) => {
      if (child.pid === undefined) reject(err);
    });
    child.once('spawn', () => {
      recorder = LogRecorder.start(spec.logFile).catch(() => undefined);
      liveGroups.add(child.pid!);
      recordGroups();
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
