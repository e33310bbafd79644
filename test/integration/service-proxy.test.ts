// Services on the embedded platform as a cluster serves them: the API server allocates cluster IPs
// and node ports, the endpoints controller lists the ready Pods, and the service proxy forwards to
// them. Real redis-server Pods run by the kubelet, real redis-cli and kubectl.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { KubeRest, type KubeObject } from '../../local/apiserver/client.js';
import { startApiServer, type ApiServer } from '../../local/apiserver/index.js';
import { startKubelet, type Kubelet } from '../../local/kubelet/index.js';
import { clusterDns, startServiceProxy, type ServiceProxy } from '../../local/network/index.js';
import { defaultNodes, startScheduler } from '../../local/scheduler/index.js';
import { freePort } from '../helpers/ports.js';

const NS = 'svc-test';
const REDIS_PORT = 7000;
const nodes = defaultNodes(3);

let api: ApiServer;
let scheduler: { stop(): Promise<void> };
let kubelet: Kubelet;
let proxy: ServiceProxy;
let kube: KubeRest;
let tmp: string;
const logs: string[] = [];

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000, env: { ...process.env, KUBECONFIG: join(tmp, 'config'), HOME: tmp } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const kubectl = (...args: string[]) => run('/usr/bin/kubectl', ['--server', api.url, '--cache-dir', join(tmp, 'cache'), '-n', NS, ...args]);

async function kubectlApply(yaml: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(tmp, `m-${Date.now()}-${Math.random()}.yaml`);
  writeFileSync(file, yaml);
  return kubectl('apply', '-f', file);
}

const redisCli = (host: string, port: number, ...cmd: string[]) => run('redis-cli', ['-h', host, '-p', String(port), ...cmd]);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\n${logs.slice(-10).join('\n')}`);
}

function redisPod(name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: 'svc-redis' } },
    spec: {
      terminationGracePeriodSeconds: 2,
      volumes: [{ name: 'data', emptyDir: {} }],
      containers: [
        {
          name: 'redis',
          image: 'redis:7.2',
          command: ['redis-server'],
          args: ['--port', String(REDIS_PORT), '--dir', '/data', '--save', '', '--appendonly', 'no'],
          env: [{ name: 'PORT', value: String(REDIS_PORT) }],
          ports: [{ name: 'client', containerPort: REDIS_PORT }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          // Ready unless the key `unready` is 1: the test flips readiness from outside.
          readinessProbe: { exec: { command: ['sh', '-c', 'test "$(redis-cli -p $PORT get unready)" != 1'] }, periodSeconds: 1 },
        },
      ],
    },
  };
}

async function podIp(name: string): Promise<string> {
  return waitFor(`pod ${name} ready`, async () => {
    const pod = await kube.get('v1', 'Pod', name, NS);
    const ready = pod?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
    return ready ? (pod!.status.podIP as string) : undefined;
  });
}

type Subset = { addresses?: { ip: string }[]; notReadyAddresses?: { ip: string }[] };

async function readyIps(service: string): Promise<string[]> {
  const ep = await kube.get('v1', 'Endpoints', service, NS);
  return ((ep?.subsets ?? []) as Subset[]).flatMap((s) => (s.addresses ?? []).map((a) => a.ip)).sort();
}

const waitReady = (service: string, ips: string[]) =>
  waitFor(
    `endpoints of ${service} to be ${ips.join(',')}`,
    async () => JSON.stringify(await readyIps(service)) === JSON.stringify([...ips].sort()),
  );

/** Which Pod a new connection to host:port reaches (each Pod's redis holds its own name). */
async function servedBy(host: string, port: number): Promise<string> {
  const r = await redisCli(host, port, 'GET', 'name');
  if (r.code !== 0) throw new Error(`redis-cli ${host}:${port}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** How a connection to host:port ends when nobody answers: 'refused', 'reset' or 'closed'. */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, 2000);
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'reset');
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
  });
}

const ips: Record<string, string> = {};
let clusterIP = '';

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'service-proxy-'));
  writeFileSync(join(tmp, 'config'), '');
  api = await startApiServer({ port: 0 });
  kube = new KubeRest(api.url);
  scheduler = (await startScheduler({ apiUrl: api.url, nodes })) as unknown as { stop(): Promise<void> };
  kubelet = await startKubelet({ apiUrl: api.url, nodes, dataDir: join(tmp, 'pods'), log: (m) => logs.push(m) });
  proxy = await startServiceProxy({ apiUrl: api.url, nodes, log: (m) => logs.push(m) });
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const name of ['redis-a', 'redis-b', 'redis-c']) await kube.create(redisPod(name));
  for (const name of ['redis-a', 'redis-b', 'redis-c']) {
    ips[name] = await podIp(name);
    expect((await redisCli(ips[name], REDIS_PORT, 'SET', 'name', name)).stdout.trim()).toBe('OK');
  }
});

afterAll(async () => {
  await proxy?.stop();
  await kubelet?.stop();
  await scheduler?.stop();
  await api?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('Services on the embedded platform', () => {
  it('a ClusterIP Service with a named targetPort answers redis-cli through the proxy, round robin', async () => {
    const applied = await kubectlApply(`
apiVersion: v1
kind: Service
metadata: {name: redis, namespace: ${NS}}
spec:
  selector: {app: svc-redis}
  ports: [{name: redis, port: 6379, targetPort: client}]
`);
    expect(applied.stderr).toBe('');
    const svc = (await kube.get('v1', 'Service', 'redis', NS))!;
    clusterIP = svc.spec.clusterIP;
    expect(clusterIP).toMatch(/^127\.96\.\d+\.\d+$/);
    await waitReady('redis', Object.values(ips));
    expect((await redisCli(clusterIP, 6379, 'PING')).stdout.trim()).toBe('PONG');
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await servedBy(clusterIP, 6379));
    expect(new Set(seen)).toEqual(new Set(['redis-a', 'redis-b', 'redis-c']));
    expect(seen.filter((n) => n === 'redis-a')).toHaveLength(2);

    const table = (await kubectl('get', 'svc', 'redis')).stdout;
    expect(table).toMatch(new RegExp(`^redis\\s+ClusterIP\\s+${clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+6379/TCP`, 'm'));
    const endpoints = (await kubectl('get', 'endpoints', 'redis')).stdout;
    const listed = Object.values(ips)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .map((ip) => `${ip}:${REDIS_PORT}`)
      .join(',');
    expect(endpoints).toContain(listed);
    expect(await clusterDns(kube).resolve('redis', NS)).toBe(clusterIP);
    expect(await clusterDns(kube).resolve(`redis.${NS}.svc.cluster.local`)).toBe(clusterIP);
  });

  it('a NodePort Service answers on every node address and the host', async () => {
    const created = await kubectlApply(`
apiVersion: v1
kind: Service
metadata: {name: redis-np, namespace: ${NS}}
spec:
  type: NodePort
  selector: {app: svc-redis}
  ports: [{port: 6379, targetPort: ${REDIS_PORT}}]
`);
    expect(created.code).toBe(0);
    const nodePort = (await kube.get('v1', 'Service', 'redis-np', NS))!.spec.ports[0].nodePort as number;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(nodePort).toBeLessThanOrEqual(32767);
    await waitReady('redis-np', Object.values(ips));
    for (const host of [...nodes.map((n) => n.address), '127.0.0.1']) {
      await waitFor(`PONG on ${host}:${nodePort}`, async () => (await redisCli(host, nodePort, 'PING')).stdout.trim() === 'PONG');
    }
    expect((await kubectl('get', 'svc', 'redis-np')).stdout).toMatch(new RegExp(`NodePort\\s+\\S+\\s+<none>\\s+6379:${nodePort}/TCP`));
  });

  it('a Pod that is not ready or deleted leaves the endpoints; open connections stay, new ones go to the others', async () => {
    const open = new Redis({ host: clusterIP, port: 6379, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    open.on('error', () => undefined);
    await open.connect();
    const held = (await open.get('name'))!;
    const others = Object.keys(ips).filter((n) => n !== held);
    await redisCli(ips[held]!, REDIS_PORT, 'SET', 'unready', '1');
    await waitReady(
      'redis',
      others.map((n) => ips[n]!),
    );
    const ep = await kube.get('v1', 'Endpoints', 'redis', NS);
    expect((ep!.subsets as Subset[]).flatMap((s) => (s.notReadyAddresses ?? []).map((a) => a.ip))).toEqual([ips[held]]);
    for (let i = 0; i < 4; i++) expect(others).toContain(await servedBy(clusterIP, 6379));
    expect(await open.get('name')).toBe(held);
    open.disconnect();

    const [gone, last] = others as [string, string];
    expect((await kubectl('delete', 'pod', gone, '--wait=false')).code).toBe(0);
    await waitReady('redis', [ips[last]!]);
    for (let i = 0; i < 3; i++) expect(await servedBy(clusterIP, 6379)).toBe(last);

    // No ready endpoint left: connections are turned away at once.
    await redisCli(ips[last]!, REDIS_PORT, 'SET', 'unready', '1');
    await waitReady('redis', []);
    expect(['reset', 'closed']).toContain(await connectOutcome(clusterIP, 6379));
    expect((await redisCli(clusterIP, 6379, 'PING')).stdout.trim()).not.toBe('PONG');
    await redisCli(ips[held]!, REDIS_PORT, 'DEL', 'unready');
    await waitReady('redis', [ips[held]!]);
    expect(await servedBy(clusterIP, 6379)).toBe(held);
  });

  it('refuses taken or foreign addresses and ports, and a changed cluster IP, with kube-apiserver words', async () => {
    const taken = await kubectlApply(`
apiVersion: v1
kind: Service
metadata: {name: copy, namespace: ${NS}}
spec: {clusterIP: ${clusterIP}, ports: [{port: 1}]}
`);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toContain(
      `The Service "copy" is invalid: spec.clusterIPs: Invalid value: []string{"${clusterIP}"}: failed to allocate IP ${clusterIP}: provided IP is already allocated`,
    );
    const nodePort = (await kube.get('v1', 'Service', 'redis-np', NS))!.spec.ports[0].nodePort as number;
    // kubectl create service sends protobuf, as against a real cluster.
    const portTaken = await kubectl('create', 'service', 'nodeport', 'np2', '--tcp=80:80', `--node-port=${nodePort}`);
    expect(portTaken.stderr).toContain(`spec.ports[0].nodePort: Invalid value: ${nodePort}: provided port is already allocated`);
    const outside = await kubectl('create', 'service', 'nodeport', 'np3', '--tcp=80:80', '--node-port=8080');
    expect(outside.stderr).toContain('provided port is not in the valid range. The range of valid ports is 30000-32767');
    expect((await kubectl('create', 'service', 'clusterip', 'named', '--tcp=6379:client')).code).toBe(0);
    const named = (await kube.get('v1', 'Service', 'named', NS))!;
    expect(named.spec).toMatchObject({
      type: 'ClusterIP',
      selector: { app: 'named' },
      ports: [{ port: 6379, targetPort: 'client', protocol: 'TCP' }],
    });
    expect(named.spec.clusterIP).toMatch(/^127\.96\./);
    const moved = await kubectl('patch', 'svc', 'redis', '-p', '{"spec":{"clusterIP":"127.96.0.77"}}');
    expect(moved.stderr).toContain('spec.clusterIPs[0]: Invalid value: []string{"127.96.0.77"}: may not change once set');
  });

  it('a Service without selector keeps the Endpoints its user writes, and the proxy follows them', async () => {
    const [ip] = await readyIps('redis');
    const name = Object.keys(ips).find((n) => ips[n] === ip)!;
    const created = await kubectlApply(`
apiVersion: v1
kind: Service
metadata: {name: external, namespace: ${NS}}
spec: {ports: [{port: 6380}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: external, namespace: ${NS}}
subsets: [{addresses: [{ip: "${ip}"}], ports: [{port: ${REDIS_PORT}}]}]
`);
    expect(created.code).toBe(0);
    const externalIp = (await kube.get('v1', 'Service', 'external', NS))!.spec.clusterIP as string;
    await waitFor('the user endpoints served', async () => (await servedBy(externalIp, 6380).catch(() => '')) === name);
    // The endpoints controller leaves them as written.
    await new Promise((r) => setTimeout(r, 500));
    expect(await readyIps('external')).toEqual([ip]);
    expect((await kubectl('get', 'endpoints', 'external')).stdout).toContain(`${ip}:${REDIS_PORT}`);
  });

  it('a LoadBalancer Service gets the host as ingress and answers there; a bind failure is retried', async () => {
    const port = await freePort();
    // Something else holds the port first: the proxy must say so and keep trying.
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    const created = await kubectlApply(`
apiVersion: v1
kind: Service
metadata: {name: redis-lb, namespace: ${NS}}
spec:
  type: LoadBalancer
  selector: {app: svc-redis}
  ports: [{port: ${port}, targetPort: client}]
`);
    expect(created.code).toBe(0);
    const status = await waitFor(
      'load balancer status',
      async () => (await kube.get('v1', 'Service', 'redis-lb', NS))?.status?.loadBalancer?.ingress,
    );
    expect(status).toEqual([{ ip: '127.0.0.1', ipMode: 'VIP' }]);
    expect((await kubectl('get', 'svc', 'redis-lb')).stdout).toMatch(/LoadBalancer\s+127\.96\.\S+\s+127\.0\.0\.1\s+/);
    await waitFor('the bind failure in the log', async () =>
      logs.some((l) => l.includes(`service ${NS}/redis-lb: cannot listen on 127.0.0.1:${port}`)),
    );
    await new Promise<void>((r) => blocker.close(() => r()));
    await waitFor(`PONG on 127.0.0.1:${port}`, async () => (await redisCli('127.0.0.1', port, 'PING')).stdout.trim() === 'PONG', 15_000);
  });

  it('a deleted Service closes its listeners and loses its Endpoints', async () => {
    const nodePort = (await kube.get('v1', 'Service', 'redis-np', NS))!.spec.ports[0].nodePort as number;
    const clusterIp = (await kube.get('v1', 'Service', 'redis-np', NS))!.spec.clusterIP as string;
    expect((await kubectl('delete', 'svc', 'redis-np')).code).toBe(0);
    await waitFor('listeners closed', async () => !proxy.listening().includes(`127.0.0.2:${nodePort}`));
    expect(await connectOutcome('127.0.0.2', nodePort)).toBe('refused');
    expect(await connectOutcome(clusterIp, 6379)).toBe('refused');
    await waitFor('endpoints gone', async () => !(await kube.get('v1', 'Endpoints', 'redis-np', NS)));
  });
});
