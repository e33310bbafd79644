// A closed-loop HTTP/1.1 load: each client keeps one keep-alive connection and sends its next GET
// as soon as the previous answer is read. Plain sockets with a minimal response reader, so the
// load generator costs little CPU beside the server it measures on the same machine.
import net from 'node:net';

export interface LoadResult {
  requests: number;
  errors: number;
  non200: number;
  seconds: number;
  /** Sorted ascending; empty when not recorded. */
  latenciesMs: number[];
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Where the first full response in `buf` ends, and its status; undefined while incomplete.
 * Only Content-Length framing is read, which is what the endpoints measured use.
 */
export function responseEnd(buf: Buffer): { end: number; status: number } | undefined {
  const head = buf.indexOf(HEAD_END);
  if (head < 0) return undefined;
  const text = buf.toString('latin1', 0, head);
  const status = Number(text.slice(9, 12));
  const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
  if (!m && !(status === 304 || status === 204)) throw new Error(`response without Content-Length: ${text.split('\r\n')[0]}`);
  const end = head + HEAD_END.length + (m ? Number(m[1]) : 0);
  return end <= buf.length ? { end, status } : undefined;
}

function client(url: URL, until: number, result: LoadResult, record: boolean): Promise<void> {
  const request = Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let sent = 0n;
    const send = () => {
      if (Date.now() >= until) return socket.end();
      sent = process.hrtime.bigint();
      socket.write(request);
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      const done = responseEnd(pending);
      if (!done) return;
      pending = pending.subarray(done.end);
      if (record) result.latenciesMs.push(Number(process.hrtime.bigint() - sent) / 1e6);
      result.requests++;
      if (done.status !== 200) result.non200++;
      send();
    });
    socket.on('error', () => {
      result.errors++;
      socket.destroy();
    });
    socket.on('close', () => resolve());
  });
}

/** `clients` connections against `url` for `durationMs`. */
export async function load(url: string, clients: number, durationMs: number, record: boolean): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, errors: 0, non200: 0, seconds: 0, latenciesMs: [] };
  const started = process.hrtime.bigint();
  const until = Date.now() + durationMs;
  await Promise.all(Array.from({ length: clients }, () => client(new URL(url), until, result, record)));
  result.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  result.latenciesMs.sort((a, b) => a - b);
  return result;
}
