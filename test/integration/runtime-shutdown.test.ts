// A real function process (node with tsx) running a tiny host: SIGTERM during a slow handler lets
// the handler finish and answer, then the process exits 0. A bad configuration stops it at start-up.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildEvent, parseEvent } from '../../shared/events/index.js';
import { postBinary } from '../helpers/http.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'runtime-shutdown-'));
const runtime = new URL('../../shared/runtime/index.ts', import.meta.url).href;
const events = new URL('../../shared/events/index.ts', import.meta.url).href;
// Long enough that a loaded machine still delivers the SIGTERM while the handler runs.
const HANDLER_MS = 4000;

const script = join(dir, 'slow-function.mts');
writeFileSync(
  script,
  `import { createFunctionHost, reply, runFunction } from ${JSON.stringify(runtime)};
import { buildEvent } from ${JSON.stringify(events)};
await runFunction(() => createFunctionHost({
  name: 'slow',
  shutdownGraceMs: 10000,
  handlers: {
    'redis.redis.reshard.requested.v1': async (event, ctx) => {
      ctx.log.info('handler started');
      await new Promise((resolve) => setTimeout(resolve, ${HANDLER_MS}));
      ctx.log.info('handler finished');
      return reply(buildEvent('redis.redis.reshard.completed.v1',
        { cluster: event.data.cluster, generation: event.data.generation, outcome: 'succeeded', slotsMoved: 42 },
        { source: ctx.source, cause: event }));
    },
  },
}));
`,
);

interface Child {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
  waitFor(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];

function start(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let pending = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    logs,
    stderr: () => err,
    exited,
    async waitFor(msg, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs.find((l) => l['msg'] === msg);
        if (found) return found;
        if (proc.exitCode !== null) throw new Error(`function exited (${proc.exitCode}) before logging "${msg}": ${err}`);
        if (Date.now() > deadline) throw new Error(`no "${msg}" log within ${timeoutMs} ms; stderr: ${err}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a function process', () => {
  it('on SIGTERM during a slow handler: finishes it, answers with its result, refuses new connections, exits 0', async () => {
    const child = start({ PORT: '0', LOG_LEVEL: 'info' });
    const listening = await child.waitFor('slow listening');
    const url = `http://127.0.0.1:${String(listening['port'])}`;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    const cluster = { namespace: 'cache', name: 'rediscluster1' };
    const request = buildEvent('redis.redis.reshard.requested.v1', { cluster, generation: 5 }, { source: '/redis-operator/reconcile' });
    const sentAt = Date.now();
    const answer = postBinary(url, request);
    const started = await child.waitFor('handler started');
    expect(started['eventId']).toBe(request.id);
    expect(started['cluster']).toBe('cache/rediscluster1');

    child.proc.kill('SIGTERM');
    await child.waitFor('shutting down: draining in-flight requests');
    // Stopped accepting: a new connection is refused while the handler still runs.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    const response = await answer;
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(HANDLER_MS - 50);
    expect(response.status).toBe(200);
    const replied = parseEvent(HTTP.toEvent({ headers: response.headers, body: response.text }) as CloudEventV1<unknown>);
    expect(replied.type).toBe('redis.redis.reshard.completed.v1');
    expect(replied.data).toMatchObject({ cluster, generation: 5, outcome: 'succeeded', slotsMoved: 42 });

    expect(await child.exited).toBe(0);
    const order = child.logs.map((l) => l['msg']);
    expect(order.indexOf('handler finished')).toBeGreaterThan(order.indexOf('signal received'));
    expect(order.indexOf('stopped')).toBeGreaterThan(order.indexOf('handler finished'));
    const done = child.logs.find((l) => l['msg'] === 'event reply')!;
    expect(done).toMatchObject({
      eventId: request.id,
      eventType: 'redis.redis.reshard.requested.v1',
      cluster: 'cache/rediscluster1',
      status: 200,
      function: 'slow',
    });
  });

  it('with an idle host: SIGTERM exits 0 at once', async () => {
    const child = start({ PORT: '0', LOG_LEVEL: 'info' });
    await child.waitFor('slow listening');
    const sent = Date.now();
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    expect(Date.now() - sent).toBeLessThan(5000);
  });

  it('with a bad variable: exits 1 at start-up with one line naming it', async () => {
    const child = start({ PORT: 'eighty', LOG_LEVEL: 'info' });
    expect(await child.exited).toBe(1);
    const line = JSON.parse(child.stderr().trim()) as { level: string; msg: string };
    expect(line.level).toBe('fatal');
    expect(line.msg).toBe('invalid configuration: PORT must be a port number (got "eighty")');
  });
});
