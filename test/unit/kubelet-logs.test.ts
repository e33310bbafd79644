// The kubelet's log reading: which run a request reads (Kubernetes' validateContainerLogStatus),
// which file holds it, and the recorder that notes when each line of a growing file appeared.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { liveRecorder, LogRecorder, timesFileOf, type LogLines } from '../../local/kubelet/log-recorder.js';
import { chooseRun, runLogFile } from '../../local/kubelet/log-read.js';
import { podLogOptions } from '../../local/kubelet/logs.js';
import type { ContainerStatusJson } from '../../local/kubelet/status.js';

const T = '2026-01-01T00:00:00Z';
const status = (over: Partial<ContainerStatusJson>): ContainerStatusJson => ({
  name: 'redis',
  image: 'redis:7',
  imageID: '',
  ready: false,
  started: false,
  restartCount: 0,
  state: { waiting: { reason: 'ContainerCreating' } },
  lastState: {},
  ...over,
});
const ended = { terminated: { exitCode: 137, reason: 'Error', startedAt: T, finishedAt: T, containerID: 'local://10' } };
const running = { running: { startedAt: T } };

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-logs-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('which run a log request reads', () => {
  it('is the current run while it runs, the last terminated one with --previous or while waiting to restart', () => {
    expect(chooseRun('p', 'redis', status({ state: running }), false)).toBe('current');
    expect(chooseRun('p', 'redis', status({ state: running, lastState: ended }), true)).toBe('last');
    const crashLooping = status({ state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: ended, restartCount: 1 });
    expect(chooseRun('p', 'redis', crashLooping, false)).toBe('last');
  });

  it("refuses with the kubelet's words", () => {
    expect(() => chooseRun('p', 'redis', status({ state: running }), true)).toThrow(
      'previous terminated container "redis" in pod "p" not found',
    );
    expect(() => chooseRun('p', 'redis', status({}), false)).toThrow('container "redis" in pod "p" is waiting to start: ContainerCreating');
    expect(() => chooseRun('p', 'redis', undefined, false)).toThrow('container "redis" in pod "p" is not available');
  });

  it('finds the file of that run among the restarts', async () => {
    for (const n of [0, 1, 3]) await fs.writeFile(path.join(dir, `${n}.log`), `${n}\n`);
    const file = (s: ContainerStatusJson, run: 'current' | 'last'): Promise<string | undefined> =>
      runLogFile(dir, s, run).then((f) => f && path.basename(f));
    expect(await file(status({ state: running, restartCount: 3 }), 'current')).toBe('3.log');
    expect(await file(status({ state: running, restartCount: 3 }), 'last')).toBe('1.log');
    expect(await file(status({ state: { waiting: { reason: 'CrashLoopBackOff' } }, restartCount: 3 }), 'last')).toBe('3.log');
    expect(await file(status({ state: running, restartCount: 2 }), 'current')).toBeUndefined();
  });
});

describe('log options as the kubelet decodes them', () => {
  it('turns sinceSeconds into a time and refuses what Kubernetes refuses', () => {
    expect(podLogOptions(new URLSearchParams('follow=true&tailLines=5&sinceSeconds=10'), 100_000)).toEqual({
      follow: true,
      previous: false,
      timestamps: false,
      tailLines: 5,
      limitBytes: undefined,
      sinceMs: 90_000,
    });
    expect(podLogOptions(new URLSearchParams('tail=all')).tailLines).toBeUndefined();
    expect(() => podLogOptions(new URLSearchParams('follow=yes'))).toThrow('Unable to decode query.');
    expect(() => podLogOptions(new URLSearchParams('tailLines=-1'))).toThrow('Invalid request.');
    expect(() => podLogOptions(new URLSearchParams(`sinceSeconds=5&sinceTime=${T}`))).toThrow('Invalid request.');
  });
});

describe('the log recorder', () => {
  it('notes a time per line as the file grows, tells followers, and counts a last line cut off at the end', async () => {
    const file = path.join(dir, '0.log');
    const out = await fs.open(file, 'a');
    await out.write('one\ntwo\n');
    const recorder = await LogRecorder.start(file);
    expect(liveRecorder(file)).toBe(recorder);
    await recorder.flush();
    const heard: (LogLines | 'end')[] = [];
    recorder.subscribe((l) => heard.push(l));
    await new Promise((r) => setTimeout(r, 20));
    await out.write('three\nfour');
    await recorder.flush();
    expect(heard.map((l) => (l === 'end' ? l : l.text.toString()))).toEqual(['three\n']);
    await out.close();
    await recorder.close();
    expect(heard.at(-2)).toMatchObject({ text: Buffer.from('four') });
    expect(heard.at(-1)).toBe('end');
    expect(liveRecorder(file)).toBeUndefined();
    const times = (await fs.readFile(timesFileOf(file), 'utf8')).trim().split('\n');
    expect(times).toHaveLength(4);
    for (const t of times) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(times[2]! > times[1]!).toBe(true);
  });
});
