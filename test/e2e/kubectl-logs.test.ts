// `kubectl logs` on the embedded platform, the way Kubernetes serves it: the API server proxies
// pods/log to the kubelet of the Pod's node, which reads what the real redis-server processes wrote.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from '../../local/platform.js';
import { Kubectl, waitFor } from '../helpers/platform-api.js';
import { freePortPair } from '../helpers/redis-harness.js';

const NS = 'logs-test';
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /;

let platform: Platform;
let k: Kubectl;
let stateDir: string;
const ports = new Set<number>();

async function freePort(): Promise<number> {
  const port = await freePortPair('127.0.0.1', ports);
  ports.add(port);
  return port;
}

function redis(name: string, port: number): Record<string, unknown> {
  return {
    name,
    image: 'redis:7.2',
    command: ['redis-server'],
    args: ['--port', String(port), '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'],
  };
}

async function runPod(name: string, containers: Record<string, unknown>[]): Promise<void> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 2, containers } };
  await k.ok(['apply', '-f', k.file(`${name}.json`, JSON.stringify(pod))]);
  await waitFor(`${name} running`, async () => (await pod_(name)).status?.containerStatuses?.every((s: any) => s.ready), 30_000, 200);
}

const pod_ = async (name: string): Promise<any> => JSON.parse(await k.ok(['get', 'pod', name, '-n', NS, '-o', 'json']));
const pidOf = (status: any): number => Number(/^local:\/\/(\d+)$/.exec(status.containerID)![1]);

/** A line in the container's log, written by Redis itself. */
async function redisLog(podName: string, port: number, message: string): Promise<void> {
  const client = new Redis({ host: (await pod_(podName)).status.podIP, port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    await client.call('DEBUG', 'LOG', message);
  } finally {
    client.disconnect();
  }
}

const logs = (...args: string[]): Promise<string> => k.ok(['logs', '-n', NS, ...args]);

let soloPort: number;

beforeAll(async () => {
  stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kubectl-logs-'));
  platform = await startPlatform({ apiPort: 0, brokerPort: 0, servingPort: 0, operator: false, stateDir, nodes: 2 });
  k = new Kubectl(platform.urls.api);
  await k.ok(['create', 'namespace', NS]);
  soloPort = await freePort();
  await runPod('solo', [redis('redis', soloPort)]);
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  k?.cleanup();
  if (stateDir) await fs.rm(stateDir, { recursive: true, force: true });
});

describe('kubectl logs', () => {
  it('reads the one container of a Pod through its node kubelet, whose port the Node records', async () => {
    const pod = await pod_('solo');
    const node = JSON.parse(await k.ok(['get', 'node', pod.spec.nodeName, '-o', 'json']));
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port;
    const ip = node.status.addresses.find((a: any) => a.type === 'InternalIP').address;
    const direct = await fetch(`http://${ip}:${port}/containerLogs/${NS}/solo/redis?tailLines=1`);
    expect(direct.status).toBe(200);
    expect(await direct.text()).toBe(await logs('solo', '--tail=1'));
    const out = await logs('solo');
    expect(out).toContain(`pid=${pidOf(pod.status.containerStatuses[0])}, just started`);
    expect(out).toContain('Ready to accept connections');
  });

  it('picks a container with -c, and names the containers when there is more than one', async () => {
    const [first, second] = [await freePort(), await freePort()];
    await runPod('duo', [redis('redis', first), redis('second', second)]);
    expect(await logs('duo', '-c', 'second')).toContain(`port=${second}.`);
    expect(await logs('duo', '-c', 'second')).not.toContain(`port=${first}.`);
    expect(await logs('duo', '-c', 'redis')).toContain(`port=${first}.`);
    // kubectl itself defaults to the first container; the API names them all when none is given.
    const defaulted = await k.run(['logs', '-n', NS, 'duo']);
    expect(defaulted.stderr).toContain('Defaulted container "redis" out of: redis, second');
    expect(defaulted.stdout).toContain(`port=${first}.`);
    const missing = await k.run(['get', '--raw', `/api/v1/namespaces/${NS}/pods/duo/log`]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('(BadRequest): a container name must be specified for pod duo, choose one of: [redis second]');
    const wrong = await k.run(['logs', '-n', NS, 'duo', '-c', 'nope']);
    expect(wrong.stderr).toContain('container nope is not valid for pod duo');
  });

  it('keeps the last lines with --tail and cuts the answer with --limit-bytes', async () => {
    const all = (await logs('solo')).split('\n').filter(Boolean);
    expect(all.length).toBeGreaterThan(3);
    expect(await logs('solo', '--tail=2')).toBe(`${all.slice(-2).join('\n')}\n`);
    expect(await logs('solo', '--tail=0')).toBe('');
    expect(await logs('solo', '--limit-bytes=7')).toBe(all[0]!.slice(0, 7));
  });

  it('prefixes the time each line was written with --timestamps, and keeps the recent ones with --since', async () => {
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 3500));
    await redisLog('solo', soloPort, 'since-marker');
    const recent = await logs('solo', '--since=3s');
    expect(recent).toContain('since-marker');
    expect(recent).not.toContain('Ready to accept connections');
    const stamped = (await logs('solo', '--timestamps')).split('\n').filter(Boolean);
    for (const line of stamped) expect(line).toMatch(TIMESTAMPED);
    const plain = (await logs('solo')).split('\n').filter(Boolean);
    expect(stamped.map((l) => l.slice(l.indexOf(' ') + 1))).toEqual(plain);
    const markerTime = Date.parse(stamped.find((l) => l.includes('since-marker'))!.slice(0, 23) + 'Z');
    expect(markerTime).toBeGreaterThan(before + 3000);
    expect(markerTime).toBeLessThanOrEqual(Date.now());
  });

  it('answers --previous with Kubernetes error before any restart, and with the killed run after one', async () => {
    const none = await k.run(['logs', '-n', NS, 'solo', '--previous']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('previous terminated container "redis" in pod "solo" not found');
    const oldPid = pidOf((await pod_('solo')).status.containerStatuses[0]);
    process.kill(oldPid, 'SIGKILL');
    const restarted = await waitFor(
      'the restarted container',
      async () => {
        const s = (await pod_('solo')).status.containerStatuses[0];
        return s.restartCount === 1 && s.ready ? s : undefined;
      },
      30_000,
      200,
    );
    const previous = await logs('solo', '--previous');
    expect(previous).toContain(`pid=${oldPid}, just started`);
    expect(previous).toContain('since-marker');
    const current = await logs('solo');
    expect(current).toContain(`pid=${pidOf(restarted)}, just started`);
    expect(current).not.toContain(`pid=${oldPid}`);
  });

  it('follows with -f: lines written later arrive, and the stream ends when the Pod is deleted', async () => {
    const follow = k.start(['logs', '-n', NS, '-f', 'solo']);
    await waitFor('the log so far', () => follow.output().includes('Ready to accept connections'), 15_000);
    expect(follow.output()).not.toContain('follow-marker');
    await redisLog('solo', soloPort, 'follow-marker');
    await waitFor('the new line', () => follow.output().includes('follow-marker'), 15_000);
    const exit = new Promise<number | null>((resolve) => follow.child.once('exit', (code) => resolve(code)));
    await k.ok(['delete', 'pod', 'solo', '-n', NS, '--wait=false']);
    expect(await exit).toBe(0);
  }, 45_000);
});
