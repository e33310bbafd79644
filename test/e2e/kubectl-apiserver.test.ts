// kubectl 1.32 against the embedded API server, run as a person runs it: apply, get (printer
// columns), get -o yaml, patch, scale, delete, get -w and api-resources.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startKubelet, type Kubelet } from '../../local/kubelet/index.js';
import { defaultNodes, startScheduler, type Scheduler } from '../../local/scheduler/index.js';
import { Kubectl, startTestApi, testCrd, waitFor, type TestApi } from '../helpers/platform-api.js';

let api: TestApi;
let kubectl: Kubectl;

function clusterYaml(spec: Record<string, unknown>, name = 'rc1'): string {
  return stringify({ apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: { name, namespace: 'cache' }, spec });
}

beforeAll(async () => {
  api = await startTestApi();
  kubectl = new Kubectl(api.url);
});

afterAll(async () => {
  await api?.close();
  kubectl?.cleanup();
});

describe('kubectl', () => {
  it('applies the CRD and then a RedisCluster', async () => {
    const crd = kubectl.file('crd.yaml', stringify(testCrd()));
    expect(await kubectl.ok(['apply', '-f', crd])).toContain(
      'customresourcedefinition.apiextensions.k8s.io/redisclusters.redis.redis created',
    );
    expect(await kubectl.ok(['apply', '-f', crd])).toContain('unchanged');
    const rc = kubectl.file('rc.yaml', clusterYaml({ image: 'redis:7', masters: 3, maxMemory: '512mb' }));
    expect(await kubectl.ok(['apply', '-f', rc])).toContain('rediscluster.redis.redis/rc1 created');
    expect(await kubectl.ok(['apply', '-f', rc])).toContain('rediscluster.redis.redis/rc1 unchanged');
    kubectl.file('rc.yaml', clusterYaml({ image: 'redis:7', masters: 3, replicas: 2, maxMemory: '512mb' }));
    expect(await kubectl.ok(['apply', '-f', rc])).toContain('rediscluster.redis.redis/rc1 configured');
  });

  it('applies server-side too (create, then merge)', async () => {
    const file = kubectl.file('ssa.yaml', clusterYaml({ image: 'redis:7', masters: 3, maxMemory: '256mb' }, 'ssa'));
    expect(await kubectl.ok(['apply', '--server-side', '-f', file])).toContain('rediscluster.redis.redis/ssa serverside-applied');
    kubectl.file('ssa.yaml', clusterYaml({ image: 'redis:7', masters: 4, maxMemory: '256mb' }, 'ssa'));
    await kubectl.ok(['apply', '--server-side', '-f', file]);
    expect(await kubectl.ok(['get', 'rdc', 'ssa', '-n', 'cache', '-o', 'jsonpath={.spec.masters} {.metadata.generation}'])).toBe('4 2');
    await kubectl.ok(['delete', 'rdc', 'ssa', '-n', 'cache']);
  });

  it('explains the custom resource from its schema', async () => {
    const out = await kubectl.ok(['explain', 'rediscluster.spec.masters']);
    expect(out).toContain('KIND:       RedisCluster');
    expect(out).toMatch(/FIELD: masters <integer>/);
  });

  it('lists the new resource in api-resources', async () => {
    const out = await kubectl.ok(['api-resources']);
    expect(out).toMatch(/^redisclusters\s+rdc\s+redis\.redis\/v1beta1\s+true\s+RedisCluster$/m);
    expect(out).toMatch(/^pods\s+po\s+v1\s+true\s+Pod$/m);
    expect(out).toMatch(/^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease$/m);
    expect((await kubectl.ok(['auth', 'can-i', 'create', 'pods'])).trim()).toBe('yes');
  });

  it('shows the printer columns in get', async () => {
    const out = await kubectl.ok(['get', 'redisclusters', '-n', 'cache']);
    const [header, row] = out.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'MASTERS', 'REPLICAS', 'STATUS', 'AGE']);
    expect(row).toMatch(/^rc1\s+3\s+2\s+\d+s$/);
    expect(await kubectl.ok(['get', 'rdc', 'rc1', '-n', 'cache', '--no-headers'])).toMatch(/^rc1\s+3\s+2/);
  });

  it('prints the stored object with get -o yaml, defaults applied', async () => {
    const obj = parse(await kubectl.ok(['get', 'rediscluster', 'rc1', '-n', 'cache', '-o', 'yaml']));
    expect(obj.kind).toBe('RedisCluster');
    expect(obj.spec).toEqual({ image: 'redis:7', masters: 3, replicas: 2, maxMemory: '512mb' });
    expect(obj.metadata.generation).toBe(2);
    expect(obj.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('patches with --type merge and reports a schema violation', async () => {
    expect(await kubectl.ok(['patch', 'rdc', 'rc1', '-n', 'cache', '--type', 'merge', '-p', '{"spec":{"masters":4}}'])).toContain(
      'rediscluster.redis.redis/rc1 patched',
    );
    expect(await kubectl.ok(['get', 'rdc', 'rc1', '-n', 'cache', '-o', 'jsonpath={.spec.masters}'])).toBe('4');
    const bad = await kubectl.run(['patch', 'rdc', 'rc1', '-n', 'cache', '--type', 'merge', '-p', '{"spec":{"masters":2}}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('spec.masters: Invalid value: 2: spec.masters in body should be greater than or equal to 3');
    const unknown = kubectl.file('unknown.yaml', clusterYaml({ image: 'redis:7', bogus: true }, 'rc9'));
    const strict = await kubectl.run(['apply', '-f', unknown]);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('unknown field "spec.bogus"');
  });

  it('scales through the scale subresource', async () => {
    expect(await kubectl.ok(['scale', 'rediscluster/rc1', '-n', 'cache', '--replicas', '5'])).toContain(
      'rediscluster.redis.redis/rc1 scaled',
    );
    expect(await kubectl.ok(['get', 'rdc', 'rc1', '-n', 'cache', '-o', 'jsonpath={.spec.masters}'])).toBe('5');
  });

  it('watches changes with get -w and deletes', async () => {
    const watch = kubectl.start(['get', 'rdc', '-n', 'cache', '-w']);
    try {
      await waitFor('the initial row', () => /rc1\s+5\s+2/.test(watch.output()), 20_000);
      await kubectl.ok(['patch', 'rdc', 'rc1', '-n', 'cache', '--type', 'merge', '-p', '{"spec":{"replicas":0}}']);
      await waitFor('the changed row', () => /rc1\s+5\s+0/.test(watch.output()), 20_000);
      expect(await kubectl.ok(['delete', 'rediscluster', 'rc1', '-n', 'cache'])).toContain('rediscluster.redis.redis "rc1" deleted');
      const rows = () =>
        watch
          .output()
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('rc1'));
      await waitFor('the deletion row', () => rows().length >= 3, 20_000);
    } finally {
      watch.child.kill();
    }
    const gone = await kubectl.run(['get', 'rdc', 'rc1', '-n', 'cache']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('redisclusters.redis.redis "rc1" not found');
  });

  it('handles built-in kinds: pods table, apply twice (strategic merge), events, namespaces', async () => {
    const podYaml = (image: string) =>
      stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
        spec: { containers: [{ name: 'main', image, ports: [{ containerPort: 80 }] }] },
      });
    const file = kubectl.file('pod.yaml', podYaml('nginx:1'));
    expect(await kubectl.ok(['apply', '-f', file])).toContain('pod/web created');
    kubectl.file('pod.yaml', podYaml('nginx:2'));
    expect(await kubectl.ok(['apply', '-f', file])).toContain('pod/web configured');
    expect(await kubectl.ok(['get', 'pod', 'web', '-o', 'jsonpath={.spec.containers[0].image}'])).toBe('nginx:2');
    const pods = await kubectl.ok(['get', 'pods', '-o', 'wide']);
    expect(pods.split('\n')[0]!.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE']);
    expect(pods).toMatch(/^web\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+<none>/m);
    expect(await kubectl.ok(['get', 'pods', '-l', 'app=web', '-o', 'name'])).toBe('pod/web\n');
    expect(await kubectl.ok(['get', 'ns'])).toMatch(/^cache\s+Active/m);
    const uid = await kubectl.ok(['get', 'pod', 'web', '-o', 'jsonpath={.metadata.uid}']);
    const events = kubectl.file(
      'event.yaml',
      stringify({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'web.1', namespace: 'default' },
        involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', uid },
        type: 'Normal',
        reason: 'Tested',
        message: 'an event a person can read',
        lastTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      }),
    );
    await kubectl.ok(['apply', '-f', events]);
    expect(await kubectl.ok(['get', 'events'])).toMatch(/Normal\s+Tested\s+pod\/web\s+an event a person can read/);
    expect(await kubectl.ok(['describe', 'pod', 'web'])).toMatch(/Normal\s+Tested\s+\S+\s+an event a person can read/);
    expect(await kubectl.ok(['delete', 'pod', 'web'])).toContain('pod "web" deleted');
  });

  it('creates a namespace, a ConfigMap and a Secret with kubectl create (protobuf bodies)', async () => {
    expect(await kubectl.ok(['create', 'namespace', 'made'])).toContain('namespace/made created');
    await kubectl.ok(['create', 'configmap', 'conf', '-n', 'made', '--from-literal=a=1', '--from-literal=b=2']);
    await kubectl.ok(['create', 'secret', 'generic', 'auth', '-n', 'made', '--from-literal=password=hunter2']);
    expect(parse(await kubectl.ok(['get', 'configmap', 'conf', '-n', 'made', '-o', 'yaml'])).data).toEqual({ a: '1', b: '2' });
    const secret = parse(await kubectl.ok(['get', 'secret', 'auth', '-n', 'made', '-o', 'yaml']));
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('hunter2');
    expect(await kubectl.ok(['delete', 'namespace', 'made'])).toContain('namespace "made" deleted');
    const gone = await kubectl.run(['get', 'configmap', 'conf', '-n', 'made']);
    expect(gone.stderr).toContain('not found');
  });

  it("applies the project's knative/ manifests and prints Knative columns", async () => {
    const dir = join(import.meta.dirname, '..', '..', 'knative');
    const out = await kubectl.ok(['apply', '-f', dir]);
    expect(out).toMatch(/service\.serving\.knative\.dev\/\S+ created/);
    expect(out).toMatch(/trigger\.eventing\.knative\.dev\/\S+ created/);
    expect(await kubectl.ok(['apply', '-f', dir])).not.toContain('configured');
    const ksvc = await kubectl.ok(['get', 'ksvc', '-A']);
    expect(ksvc.split('\n')[0]!.split(/\s+/)).toEqual(['NAMESPACE', 'NAME', 'URL', 'LATESTCREATED', 'LATESTREADY', 'READY', 'REASON']);
  });
});

describe('kubectl drain', () => {
  let drainApi: TestApi;
  let k: Kubectl;

  beforeAll(async () => {
    drainApi = await startTestApi();
    k = new Kubectl(drainApi.url);
  });

  afterAll(async () => {
    await drainApi?.close();
    k?.cleanup();
  });

  it('cordons the node and evicts its Pods', async () => {
    const docs = [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'local-node-1' } },
      ...['d1', 'd2'].map((name) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { nodeName: 'local-node-1', containers: [{ name: 'c', image: 'redis:7' }] },
      })),
    ];
    await k.ok(['apply', '-f', k.file('drain.yaml', docs.map((d) => stringify(d)).join('---\n'))]);
    const out = await k.ok(['drain', 'local-node-1', '--force', '--grace-period', '0', '--timeout', '20s']);
    expect(out).toContain('pod/d1 evicted');
    expect(out).toContain('node/local-node-1 drained');
    expect(await k.ok(['get', 'node', 'local-node-1', '-o', 'jsonpath={.spec.unschedulable}'])).toBe('true');
    expect((await k.run(['get', 'pod', 'd2'])).stderr).toContain('not found');
  });
});

describe('kubectl logs', () => {
  let logsApi: TestApi;
  let scheduler: Scheduler;
  let kubelet: Kubelet;
  let k: Kubectl;

  const pod = (name: string, spec: Record<string, unknown>): string =>
    k.file(`${name}.json`, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec }));

  beforeAll(async () => {
    logsApi = await startTestApi();
    const nodes = defaultNodes(1);
    scheduler = await startScheduler({ apiUrl: logsApi.url, nodes });
    kubelet = await startKubelet({ apiUrl: logsApi.url, nodes });
    k = new Kubectl(logsApi.url);
  });

  afterAll(async () => {
    await kubelet?.stop();
    await scheduler?.stop();
    await logsApi?.close();
    k?.cleanup();
  });

  it('reads a container log from the kubelet through pods/log', async () => {
    const script = 'echo starting talker; echo ready to accept connections; exec sleep 600';
    await k.ok(['apply', '-f', pod('talker', { containers: [{ name: 'redis', image: 'redis:7', command: ['sh', '-c', script] }] })]);
    await waitFor('the log', async () => (await k.ok(['logs', 'talker'])).includes('ready'), 20_000, 200);
    expect(await k.ok(['logs', 'talker'])).toBe('starting talker\nready to accept connections\n');
    expect(await k.ok(['logs', 'talker', '--tail', '1'])).toBe('ready to accept connections\n');
    const wrong = await k.run(['logs', 'talker', '-c', 'nope']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('container nope is not valid for pod talker');
    const negative = await k.run(['get', '--raw', '/api/v1/namespaces/default/pods/talker/log?tailLines=-1']);
    expect(negative.stderr).toContain(
      'PodLogOptions "talker" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0',
    );
  });

  it('says why there is no log: not scheduled, or waiting to start', async () => {
    const nowhere = { nodeSelector: { 'kubernetes.io/hostname': 'no-such-node' }, containers: [{ name: 'redis', image: 'redis:7' }] };
    await k.ok(['apply', '-f', pod('nowhere', nowhere)]);
    expect((await k.run(['logs', 'nowhere'])).stderr).toContain('pod nowhere does not have a host assigned');
    await k.ok(['apply', '-f', pod('unrunnable', { containers: [{ name: 'app', image: 'busybox:1.36' }] })]);
    // ContainerCreating first, then the reason the kubelet reports once it tried.
    const expected = 'container "app" in pod "unrunnable" is waiting to start: ImageNotRunnable';
    const seen = async (): Promise<boolean> => (await k.run(['logs', 'unrunnable'])).stderr.includes(expected);
    expect(await waitFor('the waiting reason', seen, 20_000, 200)).toBe(true);
  });

  it('reports a node whose kubelet cannot be reached as Kubernetes does', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await k.ok(['apply', '-f', k.file('ghost.json', JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'ghost' } }))]);
    const status = {
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } },
    };
    await k.ok(['patch', 'node', 'ghost', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    await k.ok(['apply', '-f', pod('haunted', { nodeName: 'ghost', containers: [{ name: 'redis', image: 'redis:7' }] })]);
    const out = await k.run(['logs', 'haunted', '--tail=3']);
    expect(out.stderr).toContain(
      `Error from server: Get "http://127.0.0.1:${port}/containerLogs/default/haunted/redis?tailLines=3": dial tcp 127.0.0.1:${port}: connect: connection refused`,
    );
  });
});
