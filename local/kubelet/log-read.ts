// Reading a container's log as the kubelet does for `containerLogs`: which run (the current one or
// the last terminated one), then its lines with their times, cut by tailLines, sinceSeconds or
// sinceTime, prefixed by timestamps, capped by limitBytes, and followed while the process runs.
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { liveRecorder, logTimestamp, timesFileOf, type LogLines } from './log-recorder.js';
import { isRunning, isTerminated, type ContainerStatusJson } from './status.js';

/** Kubernetes' PodLogOptions, as the kubelet takes them (sinceSeconds already turned into a time). */
export interface PodLogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  /** Epoch milliseconds: lines seen earlier are left out. */
  sinceMs?: number;
  limitBytes?: number;
}

/** An answer other than the log: the HTTP status and the kubelet's message. */
export class LogRequestError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type ContainerRun = 'current' | 'last';

/** Kubernetes' validateContainerLogStatus: which run's log the request reads, or why there is none. */
export function chooseRun(
  podName: string,
  containerName: string,
  status: ContainerStatusJson | undefined,
  previous: boolean,
): ContainerRun {
  const refuse = (why: string): LogRequestError => new LogRequestError(400, `container "${containerName}" in pod "${podName}" ${why}`);
  if (!status) throw refuse('is not available');
  const last = status.lastState.terminated;
  const { state } = status;
  if (previous) {
    if (!last?.containerID)
      throw new LogRequestError(400, `previous terminated container "${containerName}" in pod "${podName}" not found`);
    return 'last';
  }
  if (isRunning(state)) return 'current';
  if (isTerminated(state)) {
    if (state.terminated.containerID) return 'current';
    if (last?.containerID) return 'last';
    throw refuse('is terminated');
  }
  if (last) {
    if (!last.containerID) throw refuse('is terminated');
    return 'last';
  }
  if (state.waiting.reason) throw refuse(`is waiting to start: ${state.waiting.reason}`);
  throw refuse('is waiting to start - no logs yet');
}

/**
 * The file of that run: `<restartCount>.log` is the current run; the last terminated one is the
 * newest before it, or the newest of all while the container waits to start again.
 */
export async function runLogFile(dir: string, status: ContainerStatusJson, run: ContainerRun): Promise<string | undefined> {
  const runs = (await fsp.readdir(dir).catch(() => [] as string[]))
    .map((f) => /^(\d+)\.log$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  const started = isRunning(status.state) || isTerminated(status.state);
  const newest = run === 'current' || !started ? status.restartCount : status.restartCount - 1;
  const found = run === 'current' ? runs.filter((n) => n === newest) : runs.filter((n) => n <= newest);
  return found.length ? path.join(dir, `${Math.max(...found)}.log`) : undefined;
}

interface TimedLine {
  text: Buffer;
  time: string;
}

function splitLines(text: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, start)) {
    lines.push(text.subarray(start, i + 1));
    start = i + 1;
  }
  if (start < text.length) lines.push(text.subarray(start));
  return lines;
}

/** The lines of a log file (its first `upto` bytes) with the times recorded for them. */
async function readTimedLines(file: string, upto?: number): Promise<TimedLine[]> {
  const [text, times, stat] = await Promise.all([
    fsp.readFile(file).catch(() => Buffer.alloc(0)),
    fsp.readFile(timesFileOf(file), 'utf8').catch(() => ''),
    fsp.stat(file).catch(() => undefined),
  ]);
  const recorded = times.split('\n');
  // A line without a recorded time (the kubelet was not there to see it) was written by the
  // file's last change at the latest.
  const fallback = logTimestamp(stat?.mtimeMs ?? Date.now());
  return splitLines(upto === undefined ? text : text.subarray(0, upto)).map((line, i) => ({ text: line, time: recorded[i] || fallback }));
}

const timeMs = (time: string): number => Date.parse(`${time.slice(0, 23)}Z`);

/** Writes lines as the options say; false once limitBytes is reached (the answer then ends). */
class LogWriter {
  private left: number;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: PodLogOptions,
  ) {
    this.left = opts.limitBytes ?? Infinity;
  }

  write(line: TimedLine): boolean {
    if (this.opts.sinceMs !== undefined && timeMs(line.time) < this.opts.sinceMs) return true;
    let out = this.opts.timestamps ? Buffer.concat([Buffer.from(`${line.time} `), line.text]) : line.text;
    if (out.length >= this.left) out = out.subarray(0, this.left);
    this.left -= out.length;
    if (out.length) this.res.write(out);
    return this.left > 0;
  }
}

/** Answers with the log of one run; following a running one until its process exits or the client leaves. */
export async function streamLog(res: ServerResponse, file: string, opts: PodLogOptions): Promise<void> {
  const recorder = opts.follow ? liveRecorder(file) : undefined;
  const pending: (LogLines | 'end')[] = [];
  let deliver = (lines: LogLines | 'end'): void => void pending.push(lines);
  let upto: number | undefined;
  let unsubscribe = (): void => undefined;
  if (recorder) {
    await recorder.flush();
    // What is recorded now is read from the file; everything after it arrives through the listener.
    upto = recorder.recordedBytes;
    unsubscribe = recorder.subscribe((lines) => deliver(lines));
  }
  const lines = await readTimedLines(file, upto);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  const writer = new LogWriter(res, opts);
  const tail = opts.tailLines === undefined ? lines : lines.slice(Math.max(0, lines.length - opts.tailLines));
  let open = tail.every((line) => writer.write(line));
  if (!recorder || !open) {
    unsubscribe();
    res.end();
    return;
  }
  await new Promise<void>((done) => {
    const finish = (): void => {
      open = false;
      unsubscribe();
      res.end();
      done();
    };
    deliver = (chunk) => {
      if (!open) return;
      if (chunk === 'end') return finish();
      for (const text of splitLines(chunk.text)) if (!writer.write({ text, time: chunk.time })) return finish();
    };
    res.once('close', finish);
    for (const chunk of pending.splice(0)) deliver(chunk);
  });
}
