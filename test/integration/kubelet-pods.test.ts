// The local kubelet against the real local API server and scheduler: Pods become real
// redis-server processes on their own addresses, with probes, restarts, volumes and deletion.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { Redis } from 'ioredis';
import { kubeConfigFor, startApiServer } from '../../local/apiserver/index.js';
import { defaultNodes, startScheduler } from '../../local/scheduler/index.js';
import { startKubelet, type Kubelet } from '../../local/kubelet/index.js';
import { freePortPair } from '../helpers/redis-harness.js';

const NS = 'kubelet-test';

let api: { url: string; close(): Promise<void> };
let scheduler: { stop(): Promise<void> } | undefined;
let kubelet: Kubelet;
let core: CoreV1Api;
let dataDir: string;
const logs: string[] = [];
const usedPorts = new Set<number>();

async function freePort(): Promise<number> {
  const port = await freePortPair('127.0.0.1', usedPorts);
  usedPorts.add(port);
  return port;
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kubelet-test-'));
  api = await startApiServer({ host: '127.0.0.1', port: 0 });
  core = kubeConfigFor(api.url).makeApiClient(CoreV1Api);
  const nodes = defaultNodes(3);
  scheduler = (await startScheduler({ apiUrl: api.url, nodes })) as unknown as { stop(): Promise<void> };
  kubelet = await startKubelet({ apiUrl: api.url, nodes, dataDir, backoffBaseMs: 500, volumeSyncMs: 1000, log: (m) => logs.push(m) });
  await core.createNamespace({ body: { metadata: { name: NS } } }).catch(() => undefined);
});

afterAll(async () => {
  await kubelet?.stop();
  await scheduler?.stop();
  await api?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function redisContainer(port: number, extra: Partial<V1Container> = {}): V1Container {
  return {
    name: 'redis',
    image: 'awbrg789/redis:latest',
    command: ['redis-server'],
    args: ['--port', '$(PORT)', '--dir', '/data', '--save', '', '--appendonly', 'no', '--cluster-announce-ip', '$(POD_IP)'],
    env: [
      { name: 'PORT', value: String(port) },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    volumeMounts: [{ name: 'data', mountPath: '/data' }],
    ...extra,
  };
}

async function createPod(name: string, spec: Partial<NonNullable<V1Pod['spec']>> & { containers: V1Container[] }): Promise<V1Pod> {
  return core.createNamespacedPod({
    namespace: NS,
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, labels: { test: 'kubelet' } },
      spec: { terminationGracePeriodSeconds: 5, volumes: [{ name: 'data', emptyDir: {} }], ...spec },
    },
  });
}

const readPod = (name: string): Promise<V1Pod> => core.readNamespacedPod({ name, namespace: NS });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\n${logs.slice(-15).join('\n')}`);
}

const condition = (pod: V1Pod, type: string): string | undefined => pod.status?.conditions?.find((c) => c.type === type)?.status;

async function waitPod(name: string, predicate: (pod: V1Pod) => boolean, what: string, timeoutMs?: number): Promise<V1Pod> {
  return waitFor(
    `pod ${name}: ${what}`,
    async () => {
      const pod = await readPod(name);
      return predicate(pod) ? pod : undefined;
    },
    timeoutMs,
  );
}

async function withRedis<T>(host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const eventsOf = async (podName: string) =>
  (await core.listNamespacedEvent({ namespace: NS })).items.filter(
    (e) => e.involvedObject.name === podName && e.involvedObject.kind === 'Pod',
  );

const pidOf = (pod: V1Pod, container = 'redis'): number => {
  const id = pod.status?.containerStatuses?.find((c) => c.name === container)?.containerID ?? '';
  return Number(id.replace('local://', ''));
};

async function deletePodAndWait(name: string): Promise<void> {
  await core.deleteNamespacedPod({ name, namespace: NS });
  await waitFor(`pod ${name} to go away`, async () => {
    try {
      await readPod(name);
      return false;
    } catch (err) {
      return (err as { code?: number }).code === 404;
    }
  });
}

describe('local kubelet', () => {
  it('runs a pod-network Pod as redis-server on its own address; Ready follows the readiness probe', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    await createPod('net-a', {
      containers: [
        redisContainer(port, {
          readinessProbe: {
            exec: { command: ['sh', '-c', 'test -f /data/ready && redis-cli -p $PORT ping'] },
            periodSeconds: 1,
            failureThreshold: 1,
          },
        }),
        {
          name: 'exporter',
          image: 'oliver006/redis_exporter:v1.45.0',
          args: [`--web.listen-address=:${metricsPort}`],
          env: [{ name: 'REDIS_ADDR', value: `redis://localhost:${port}` }],
          readinessProbe: { httpGet: { path: '/metrics', port: metricsPort }, periodSeconds: 1 },
        },
      ],
    });
    const running = await waitPod('net-a', (p) => p.status?.phase === 'Running', 'Running');
    const podIP = running.status!.podIP!;
    expect(podIP).toMatch(/^127\.1\.\d+\.\d+$/);
    expect(running.status!.hostIP).toMatch(/^127\.0\.0\.\d+$/);
    expect(running.status!.podIPs).toEqual([{ ip: podIP }]);
    expect(condition(running, 'PodScheduled')).toBe('True');

    expect(await withRedis(podIP, port, (r) => r.ping())).toBe('PONG');
    // Bound to the Pod's address only, and the downward API gave it that address.
    expect(await portOpen('127.0.0.1', port)).toBe(false);
    const config = await withRedis(podIP, port, async (r) => [
      await r.config('GET', 'bind'),
      await r.config('GET', 'cluster-announce-ip'),
      await r.config('GET', 'dir'),
    ]);
    expect(config[0]).toEqual(['bind', podIP]);
    expect(config[1]).toEqual(['cluster-announce-ip', podIP]);
    const dataDirOnHost = (config[2] as string[])[1]!;
    expect(dataDirOnHost.startsWith(dataDir)).toBe(true);

    // Not ready while the probe fails; ready once it passes; not ready again when it fails.
    await new Promise((r) => setTimeout(r, 1500));
    expect(condition(await readPod('net-a'), 'Ready')).toBe('False');
    await fs.writeFile(path.join(dataDirOnHost, 'ready'), 'yes');
    const ready = await waitPod('net-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    expect(ready.status!.containerStatuses!.find((c) => c.name === 'redis')!.ready).toBe(true);
    await fs.rm(path.join(dataDirOnHost, 'ready'));
    await waitPod('net-a', (p) => condition(p, 'Ready') === 'False', 'not Ready after the probe fails');

    // The exporter sidecar scrapes the same Pod address; its HTTP readiness probe passes.
    await waitPod('net-a', (p) => p.status?.containerStatuses?.find((c) => c.name === 'exporter')?.ready === true, 'exporter ready');
    const metrics = await waitFor('exporter metrics', async () => {
      const res = await fetch(`http://${podIP}:${metricsPort}/metrics`);
      const text = await res.text();
      return text.includes('redis_up 1') ? text : undefined;
    });
    expect(metrics).toMatch(/redis_up 1/);

    // A second Pod on the same port gets its own address.
    await createPod('net-b', { containers: [redisContainer(port)] });
    const b = await waitPod('net-b', (p) => p.status?.phase === 'Running' && condition(p, 'Ready') === 'True', 'Ready');
    expect(b.status!.podIP).not.toBe(podIP);
    expect(await withRedis(b.status!.podIP!, port, (r) => r.ping())).toBe('PONG');
    await Promise.all([deletePodAndWait('net-a'), deletePodAndWait('net-b')]);
  });

  it('runs a hostNetwork Pod on its node address, with config from a ConfigMap volume and a password from a Secret', async () => {
    const port = await freePort();
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: {
        metadata: { name: 'redis-conf', namespace: NS },
        data: { 'redis.conf': `port ${port}\ndir /data\nappendonly no\nsave ""\n` },
      },
    });
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'redis-auth', namespace: NS }, stringData: { password: 'pw-123' } },
    });
    await createPod('host-a', {
      hostNetwork: true,
      volumes: [
        { name: 'data', emptyDir: {} },
        { name: 'conf', configMap: { name: 'redis-conf' } },
      ],
      containers: [
        {
          name: 'redis',
          image: 'redis:7',
          args: ['/etc/redis/redis.conf', '--requirepass', '$(PASSWORD)'],
          env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-auth', key: 'password' } } }],
          volumeMounts: [
            { name: 'data', mountPath: '/data' },
            { name: 'conf', mountPath: '/etc/redis' },
          ],
          readinessProbe: { tcpSocket: { port }, periodSeconds: 1 },
          livenessProbe: { exec: { command: ['redis-cli', '-p', String(port), '-a', 'pw-123', 'ping'] }, periodSeconds: 1 },
        },
      ],
    });
    const pod = await waitPod('host-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    const nodeAddress = defaultNodes(3).find((n) => n.name === pod.spec!.nodeName)!.address;
    expect(pod.status!.podIP).toBe(nodeAddress);
    expect(pod.status!.hostIP).toBe(nodeAddress);
    const r = new Redis({
      host: nodeAddress,
      port,
      password: 'pw-123',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    r.on('error', () => {});
    await r.connect();
    expect(await r.ping()).toBe('PONG');
    const dir = (await r.config('GET', 'dir')) as string[];
    r.disconnect();
    // `dir /data` in the ConfigMap was rewritten to the Pod's emptyDir.
    expect(dir[1]!.startsWith(dataDir)).toBe(true);
    expect(dir[1]!.endsWith(path.join('empty-dir', 'data'))).toBe(true);

    // A changed ConfigMap reaches the volume's file while the Pod runs.
    const confFile = path.join(dir[1]!, '..', '..', 'configmap', 'conf', 'redis.conf');
    expect(await fs.readFile(confFile, 'utf8')).toContain(`dir ${dir[1]}`);
    await core.patchNamespacedConfigMap(
      { name: 'redis-conf', namespace: NS, body: { data: { 'redis.conf': `port ${port}\ndir /data\nmaxmemory 1mb\n` } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await waitFor(
      'the ConfigMap change in the volume',
      async () => (await fs.readFile(confFile, 'utf8')).includes('maxmemory 1mb'),
      15_000,
    );
    await deletePodAndWait('host-a');
  });

  it('restarts a container killed with kill -9, with its emptyDir data intact', async () => {
    const port = await freePort();
    await createPod('crash-a', { containers: [redisContainer(port, { readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } })] });
    const pod = await waitPod('crash-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    const podIP = pod.status!.podIP!;
    const pid = pidOf(pod);
    expect(pidAlive(pid)).toBe(true);
    await withRedis(podIP, port, async (r) => {
      for (let i = 0; i < 100; i++) await r.set(`key:${i}`, `value-${i}`);
      await r.save();
      return r.config('GET', 'dir').then((d) => fs.writeFile(path.join((d as string[])[1]!, 'marker.txt'), 'kept'));
    });

    process.kill(pid, 'SIGKILL');
    const restarted = await waitPod(
      'crash-a',
      (p) => {
        const s = p.status?.containerStatuses?.[0];
        return s?.restartCount === 1 && s.state?.running !== undefined && condition(p, 'Ready') === 'True';
      },
      'restarted and Ready',
    );
    const status = restarted.status!.containerStatuses![0]!;
    expect(status.lastState?.terminated?.exitCode).toBe(137);
    expect(status.lastState?.terminated?.reason).toBe('Error');
    expect(pidOf(restarted)).not.toBe(pid);
    expect(restarted.status!.podIP).toBe(podIP);
    const after = await withRedis(podIP, port, async (r) => {
      const keys = await r.dbsize();
      const values = await r.mget(...Array.from({ length: 100 }, (_, i) => `key:${i}`));
      const dir = ((await r.config('GET', 'dir')) as string[])[1]!;
      return { keys, values, marker: await fs.readFile(path.join(dir, 'marker.txt'), 'utf8') };
    });
    expect(after.keys).toBe(100);
    expect(after.values).toEqual(Array.from({ length: 100 }, (_, i) => `value-${i}`));
    expect(after.marker).toBe('kept');
    await deletePodAndWait('crash-a');
  });

  it('shows CrashLoopBackOff while a crashing container waits to restart', async () => {
    await createPod('crash-loop', {
      containers: [{ name: 'redis', image: 'redis:7', command: ['sh', '-c', 'exit 3'] }],
    });
    const pod = await waitPod(
      'crash-loop',
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
      'CrashLoopBackOff',
    );
    const s = pod.status!.containerStatuses![0]!;
    expect(s.lastState?.terminated?.exitCode).toBe(3);
    expect(s.state!.waiting!.message).toMatch(/back-off .* restarting failed container=redis/);
    const later = await waitPod('crash-loop', (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2, 'restartCount 2');
    expect(later.status!.phase).toBe('Running');
    const backOff = await waitFor('a BackOff event', async () => (await eventsOf('crash-loop')).find((e) => e.reason === 'BackOff'));
    expect(backOff.type).toBe('Warning');
    expect(backOff.involvedObject.uid).toBe(pod.metadata!.uid);
    await deletePodAndWait('crash-loop');
  });

  it('restarts a container whose liveness probe fails', async () => {
    const port = await freePort();
    await createPod('live-a', {
      containers: [
        redisContainer(port, {
          command: ['sh', '-c', 'touch /data/alive && exec redis-server --port $(PORT) --dir /data --save ""'],
          args: [],
          livenessProbe: { exec: { command: ['sh', '-c', 'test -f /data/alive'] }, periodSeconds: 1, failureThreshold: 2 },
          // A script's redis-cli, like the probe's, talks to the Pod address without -h.
          readinessProbe: { exec: { command: ['sh', '-c', 'redis-cli -p $PORT ping | grep -q PONG'] }, periodSeconds: 1 },
        }),
      ],
    });
    const pod = await waitPod('live-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    // The script's redis-server got the Pod address too.
    const dir = await withRedis(pod.status!.podIP!, port, async (r) => ((await r.config('GET', 'dir')) as string[])[1]!);
    await fs.rm(path.join(dir, 'alive'));
    const restarted = await waitPod(
      'live-a',
      (p) => p.status?.containerStatuses?.[0]?.restartCount === 1 && condition(p, 'Ready') === 'True',
      'restarted by liveness',
    );
    expect(restarted.status!.containerStatuses![0]!.lastState?.terminated?.message).toMatch(/failed liveness probe/);
    const reasons = (await eventsOf('live-a')).map((e) => `${e.reason}: ${e.message}`);
    expect(reasons).toContainEqual(expect.stringMatching(/^Unhealthy: Liveness probe failed/));
    expect(reasons).toContainEqual(expect.stringMatching(/^Killing: Container redis failed liveness probe/));
    expect(reasons).toContainEqual('Started: Started container redis');
    await deletePodAndWait('live-a');
  });

  it('deleting a Pod ends its process, closes its port and removes the object', async () => {
    const port = await freePort();
    await createPod('del-a', { containers: [redisContainer(port, { readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } })] });
    const pod = await waitPod('del-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    const podIP = pod.status!.podIP!;
    const pid = pidOf(pod);
    expect(await portOpen(podIP, port)).toBe(true);
    const started = Date.now();
    await deletePodAndWait('del-a');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(pidAlive(pid)).toBe(false);
    expect(await portOpen(podIP, port)).toBe(false);
  });

  it('kills a container that ignores SIGTERM once the grace period is over', async () => {
    await createPod('stubborn', {
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'redis', image: 'redis:7', command: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.2; done'] }],
    });
    const pod = await waitPod('stubborn', (p) => p.status?.phase === 'Running', 'Running');
    const pid = pidOf(pod);
    const started = Date.now();
    await deletePodAndWait('stubborn');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1900);
    expect(took).toBeLessThan(8000);
    expect(pidAlive(pid)).toBe(false);
  });

  it('runs the preStop hook before SIGTERM; its time comes out of the grace period', async () => {
    // The hook and the container run on this host, so both can write one file outside the Pod.
    const marks = path.join(dataDir, 'prestop-marks');
    const stamp = (what: string) => `echo ${what} $(date +%s%N) >> ${marks}`;
    await createPod('hooked', {
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'redis',
          image: 'redis:7',
          command: ['sh', '-c', `trap '${stamp('term')}; exit 0' TERM; while true; do sleep 0.1; done`],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', `${stamp('hook')}; sleep 1; ${stamp('hook-done')}`] } } },
        },
      ],
    });
    await waitPod('hooked', (p) => p.status?.phase === 'Running', 'Running');
    await deletePodAndWait('hooked');
    const lines = (await fs.readFile(marks, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    expect(lines.map((l) => l[0])).toEqual(['hook', 'hook-done', 'term']);
    const at = (i: number) => Number(BigInt(lines[i]![1]!) / 1_000_000n);
    expect(at(2) - at(0)).toBeGreaterThanOrEqual(1000);
  });

  it('abandons a preStop hook that outlasts the grace period, then gives SIGTERM 2 s before SIGKILL', async () => {
    await createPod('slow-hook', {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'redis',
          image: 'redis:7',
          command: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.2; done'],
          lifecycle: { preStop: { exec: { command: ['sleep', '30'] } } },
        },
      ],
    });
    const pod = await waitPod('slow-hook', (p) => p.status?.phase === 'Running', 'Running');
    const started = Date.now();
    await deletePodAndWait('slow-hook');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(3900);
    expect(took).toBeLessThan(10_000);
    expect(pidAlive(pidOf(pod))).toBe(false);
  });

  it('records FailedPreStopHook when the hook fails, and still stops the container', async () => {
    await createPod('bad-hook', {
      containers: [
        {
          name: 'redis',
          image: 'redis:7',
          command: ['sh', '-c', 'while true; do sleep 0.2; done'],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo no replica; exit 3'] } } },
        },
      ],
    });
    const pod = await waitPod('bad-hook', (p) => p.status?.phase === 'Running', 'Running');
    await core.deleteNamespacedPod({ name: 'bad-hook', namespace: NS });
    const failed = await waitFor('the FailedPreStopHook Event', async () =>
      (await eventsOf('bad-hook')).find((e) => e.reason === 'FailedPreStopHook'),
    );
    expect(failed.type).toBe('Warning');
    expect(failed.message).toMatch(
      /^Exec lifecycle hook \(\["sh","-c","echo no replica; exit 3"\]\) for Container "redis" in Pod "bad-hook_kubelet-test\(.+\)" failed - error: exit code 3: no replica$/,
    );
    await waitFor('pod bad-hook to go away', async () => {
      try {
        await readPod('bad-hook');
        return false;
      } catch (err) {
        return (err as { code?: number }).code === 404;
      }
    });
    expect(pidAlive(pidOf(pod))).toBe(false);
  });

  it('keeps a PersistentVolumeClaim directory for the next Pod using the claim', async () => {
    const port = await freePort();
    const spec = {
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-node-0' } }],
      containers: [redisContainer(port, { readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } })],
    };
    await createPod('pvc-a', spec);
    const first = await waitPod('pvc-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    await withRedis(first.status!.podIP!, port, async (r) => {
      await r.set('durable', 'yes');
      await r.save();
    });
    await deletePodAndWait('pvc-a');
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'data-node-0', namespace: NS });
    expect(claim.status?.phase).toBe('Bound');
    await createPod('pvc-b', spec);
    const second = await waitPod('pvc-b', (p) => condition(p, 'Ready') === 'True', 'Ready');
    expect(await withRedis(second.status!.podIP!, port, (r) => r.get('durable'))).toBe('yes');
    await deletePodAndWait('pvc-b');

    // A claim deleted and created again is a new, empty volume (Delete reclaim policy).
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'data-node-0', namespace: NS });
    await waitFor('claim gone', async () =>
      core.readNamespacedPersistentVolumeClaim({ name: 'data-node-0', namespace: NS }).then(
        () => false,
        () => true,
      ),
    );
    await createPod('pvc-c', spec);
    const third = await waitPod('pvc-c', (p) => condition(p, 'Ready') === 'True', 'Ready');
    expect(await withRedis(third.status!.podIP!, port, (r) => r.dbsize())).toBe(0);
    await deletePodAndWait('pvc-c');
  });

  it('leaves a Pod with an image it cannot run Waiting with a reason', async () => {
    await createPod('nginx', { containers: [{ name: 'web', image: 'nginx:1.25' }] });
    const pod = await waitPod(
      'nginx',
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImageNotRunnable',
      'ImageNotRunnable',
    );
    expect(pod.status!.phase).toBe('Pending');
    expect(pod.status!.containerStatuses![0]!.state!.waiting!.message).toMatch(/nginx:1\.25.*redis/);
    expect(condition(pod, 'Ready')).toBe('False');
    await deletePodAndWait('nginx');
  });

  it('after a kubelet restart runs its Pods again at the same address with their emptyDir data', async () => {
    const port = await freePort();
    await createPod('reboot-a', { containers: [redisContainer(port, { readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } })] });
    const before = await waitPod('reboot-a', (p) => condition(p, 'Ready') === 'True', 'Ready');
    const podIP = before.status!.podIP!;
    await withRedis(podIP, port, async (r) => {
      await r.set('survives', 'reboot');
      await r.save();
    });
    const pid = pidOf(before);
    await kubelet.stop();
    expect(pidAlive(pid)).toBe(false);
    kubelet = await startKubelet({ apiUrl: api.url, nodes: defaultNodes(3), dataDir, backoffBaseMs: 500, log: (m) => logs.push(m) });
    const after = await waitPod('reboot-a', (p) => condition(p, 'Ready') === 'True' && pidOf(p) !== pid, 'Ready again');
    expect(after.status!.podIP).toBe(podIP);
    const status = after.status!.containerStatuses![0]!;
    expect(status.restartCount).toBe(1);
    expect(status.lastState?.terminated?.reason).toBe('Unknown');
    expect(await withRedis(podIP, port, (r) => r.get('survives'))).toBe('reboot');
    await deletePodAndWait('reboot-a');
  });

  it('runs cluster-mode nodes whose cluster bus works between Pod addresses', async () => {
    const port = await freePort();
    const names = ['cl-0', 'cl-1', 'cl-2'];
    for (const name of names) {
      await createPod(name, {
        containers: [
          redisContainer(port, {
            args: [
              '--port',
              '$(PORT)',
              '--dir',
              '/data',
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-announce-ip',
              '$(POD_IP)',
            ],
            readinessProbe: { tcpSocket: { port }, periodSeconds: 1 },
          }),
        ],
      });
    }
    const pods = await Promise.all(names.map((n) => waitPod(n, (p) => condition(p, 'Ready') === 'True', 'Ready')));
    const ips = pods.map((p) => p.status!.podIP!);
    expect(new Set(ips).size).toBe(3);
    await withRedis(ips[0]!, port, async (r) => {
      for (const ip of ips.slice(1)) await r.call('CLUSTER', 'MEET', ip, String(port));
    });
    const view = await waitFor('all three nodes connected', async () => {
      const nodes = (await withRedis(ips[2]!, port, (r) => r.call('CLUSTER', 'NODES'))) as string;
      const lines = nodes.trim().split('\n');
      return lines.length === 3 && lines.every((l) => l.includes(' connected')) ? lines : undefined;
    });
    expect(view.map((l) => l.split(' ')[1]!.split('@')[0]).sort()).toEqual(ips.map((ip) => `${ip}:${port}`).sort());
    // nodes.conf lives in the emptyDir.
    const dir = await withRedis(ips[0]!, port, async (r) => ((await r.config('GET', 'dir')) as string[])[1]!);
    expect(await fs.readFile(path.join(dir, 'nodes.conf'), 'utf8')).toContain('myself');
    await Promise.all(names.map((n) => deletePodAndWait(n)));
  });

  it('leaves the exporter Waiting with the package to install when it is not installed', async () => {
    const bare = await startKubelet({ apiUrl: api.url, nodes: [{ name: 'bare-node', address: '127.0.0.9' }], exporterBinary: null });
    try {
      await createPod('no-exporter', {
        nodeName: 'bare-node',
        containers: [{ name: 'exporter', image: 'oliver006/redis_exporter:v1.45.0' }],
      });
      const pod = await waitPod(
        'no-exporter',
        (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ExporterNotInstalled',
        'ExporterNotInstalled',
      );
      expect(pod.status!.containerStatuses![0]!.state!.waiting!.message).toMatch(/prometheus-redis-exporter/);
      expect(pod.status!.phase).toBe('Pending');
    } finally {
      await bare.stop();
    }
  });

  it.each(['SIGTERM', 'SIGKILL'] as const)('kills its processes when the process running it gets %s', async (signal) => {
    const port = await freePort();
    const kubeletModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../local/kubelet/index.ts');
    const script = path.join(dataDir, `orphan-kubelet-${signal}.mts`);
    await fs.writeFile(
      script,
      [
        `import { startKubelet } from ${JSON.stringify(kubeletModule)};`,
        `await startKubelet({ apiUrl: ${JSON.stringify(api.url)}, nodes: [{ name: 'orphan-node-${signal.toLowerCase()}', address: '127.0.0.8' }], dataDir: ${JSON.stringify(path.join(dataDir, `orphan-${signal}`))} });`,
        `process.stdout.write('started\\n');`,
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
        child.once('exit', () => reject(new Error('kubelet process exited early')));
      });
      await createPod(`orphan-${signal.toLowerCase()}`, {
        nodeName: `orphan-node-${signal.toLowerCase()}`,
        containers: [redisContainer(port, { readinessProbe: { tcpSocket: { port }, periodSeconds: 1 } })],
      });
      const pod = await waitPod(`orphan-${signal.toLowerCase()}`, (p) => condition(p, 'Ready') === 'True', 'Ready');
      const pid = pidOf(pod);
      expect(pidAlive(pid)).toBe(true);
      child.kill(signal);
      await exited;
      await waitFor('redis-server to be gone', async () => !pidAlive(pid), 5000);
      expect(await portOpen(pod.status!.podIP!, port)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
