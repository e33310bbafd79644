// The whole embedded platform serves Services: a name resolved as a Pod in the namespace would
// resolve it reaches the selected Pod through the service proxy the platform starts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPlatform, type Platform } from '../../local/platform.js';

const NS = 'redis-operator';
let platform: Platform;
let stateDir: string;

const redisCli = (host: string, port: number, ...cmd: string[]) =>
  new Promise<string>((resolve) =>
    execFile('redis-cli', ['-h', host, '-p', String(port), ...cmd], { timeout: 10_000 }, (_e, out) => resolve(out.trim())),
  );

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'platform-services-'));
  platform = await startPlatform({ apiPort: 0, brokerPort: 0, servingPort: 0, stateDir, operator: false });
});

afterAll(async () => {
  await platform?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

it("the reference's in-cluster name and port answer through the platform's service proxy", async () => {
  const kube = platform.kube;
  await kube.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'backend', namespace: NS, labels: { 'serving.knative.dev/service': 'discovery' } },
    spec: {
      containers: [
        {
          name: 'redis',
          image: 'redis:7.2',
          command: ['redis-server'],
          args: ['--port', '8012', '--save', '', '--appendonly', 'no'],
          ports: [{ name: 'http', containerPort: 8012 }],
          readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
        },
      ],
    },
  });
  await kube.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'redis-operator-service', namespace: NS },
    spec: { selector: { 'serving.knative.dev/service': 'discovery' }, ports: [{ name: 'http', port: 9090, targetPort: 8012 }] },
  });
  const ip = await platform.dns.resolve('redis-operator-service', NS);
  expect(ip).toMatch(/^127\.96\.\d+\.\d+$/);
  expect(await platform.dns.resolveUrl('http://redis-operator-service:9090/cluster/nodes?clusterName=x', NS)).toBe(
    `http://${ip}:9090/cluster/nodes?clusterName=x`,
  );
  const deadline = Date.now() + 30_000;
  let answer = '';
  while (Date.now() < deadline && answer !== 'PONG') {
    answer = await redisCli(ip!, 9090, 'PING');
    if (answer !== 'PONG') await new Promise((r) => setTimeout(r, 200));
  }
  expect(answer).toBe('PONG');
  expect(await platform.dns.resolve('missing', NS)).toBeUndefined();
});
