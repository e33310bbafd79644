// When each line of a container's log appeared. The container writes its log file itself through a
// plain file descriptor, so a busy kubelet never holds a Redis process up; the kubelet reads what
// was appended as soon as the file changes and notes one time per complete line in `<log>.times`
// (what `timestamps`, `sinceSeconds` and `sinceTime` go by). Followers of a running container hear
// each new line from here.
import fs, { type FSWatcher } from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';

/** New complete lines (each ending in a newline, except a last one cut off by the exit) and when they were seen. */
export interface LogLines {
  text: Buffer;
  time: string;
}

export type LogListener = (lines: LogLines | 'end') => void;

const NEWLINE = 0x0a;
const SAFETY_POLL_MS = 1000;

export const timesFileOf = (logFile: string): string => `${logFile}.times`;

/** RFC3339 with nine fixed fraction digits, as the kubelet prints log timestamps. */
export function logTimestamp(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.round((ms - whole) * 1e6);
  const iso = new Date(whole).toISOString(); // 2026-01-01T00:00:00.123Z
  return `${iso.slice(0, 23)}${String(nanos).padStart(6, '0').slice(0, 6)}Z`;
}

const now = (): number => performance.timeOrigin + performance.now();

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(NEWLINE); i !== -1; i = buf.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

const live = new Map<string, LogRecorder>();

/** The recorder of a log file whose process still runs. */
export const liveRecorder = (logFile: string): LogRecorder | undefined => live.get(logFile);

export class LogRecorder {
  /** Bytes of the log that are complete lines with a recorded time. */
  recordedBytes = 0;
  private readBytes = 0;
  private partial = Buffer.alloc(0);
  private readonly listeners = new Set<LogListener>();
  private chain: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  private readonly watcher?: FSWatcher;
  private readonly poll: NodeJS.Timeout;
  private ended = false;

  private constructor(
    readonly logFile: string,
    private readonly log: FileHandle,
    private readonly times: FileHandle,
  ) {
    try {
      this.watcher = fs.watch(logFile, { persistent: false }, () => void this.flush());
      this.watcher.on('error', () => undefined);
    } catch {
      // the safety poll alone then notices new lines
    }
    this.poll = setInterval(() => void this.flush(), SAFETY_POLL_MS).unref();
  }

  /** Starts recording `logFile` (which exists: the process's output is opened on it). */
  static async start(logFile: string): Promise<LogRecorder> {
    const log = await fsp.open(logFile, 'r');
    const times = await fsp.open(timesFileOf(logFile), 'a');
    const recorder = new LogRecorder(logFile, log, times);
    live.set(logFile, recorder);
    void recorder.flush();
    return recorder;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Reads and records what has been appended so far; resolves once it is recorded. */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.chain.then(() => {
      this.queued = undefined;
      return this.readNew();
    });
    this.queued = run;
    this.chain = run.catch(() => undefined);
    return run;
  }

  subscribe(listener: LogListener): () => void {
    if (this.ended) {
      listener('end');
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The process exited: the rest is read (a last line without newline counts), followers hear the end. */
  async close(): Promise<void> {
    if (this.ended) return;
    await this.flush().catch(() => undefined);
    if (this.partial.length) await this.record(this.partial, now()).catch(() => undefined);
    this.partial = Buffer.alloc(0);
    this.ended = true;
    clearInterval(this.poll);
    this.watcher?.close();
    if (live.get(this.logFile) === this) live.delete(this.logFile);
    for (const listener of this.listeners) listener('end');
    this.listeners.clear();
    await Promise.all([this.log.close(), this.times.close()]).catch(() => undefined);
  }

  private async readNew(): Promise<void> {
    if (this.ended) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await this.log.read(buf, 0, buf.length, this.readBytes);
      if (bytesRead === 0) return;
      this.readBytes += bytesRead;
      const data = Buffer.concat([this.partial, buf.subarray(0, bytesRead)]);
      const end = data.lastIndexOf(NEWLINE) + 1;
      this.partial = Buffer.from(data.subarray(end));
      if (end > 0) await this.record(Buffer.from(data.subarray(0, end)), now());
    }
  }

  private async record(text: Buffer, seenAt: number): Promise<void> {
    const time = logTimestamp(seenAt);
    const lines = countLines(text) + (text[text.length - 1] === NEWLINE ? 0 : 1);
    await this.times.appendFile(`${time}\n`.repeat(lines));
    this.recordedBytes += text.length;
    for (const listener of this.listeners) listener({ text, time });
  }
}
