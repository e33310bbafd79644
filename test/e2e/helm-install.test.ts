// The install path users take, on the embedded platform: the platform starts from nothing and
// installs the operator with real helm; the example becomes Ready; discovery answers on the
// reference's in-cluster address (redis-operator-service:9090) as the platform resolves it;
// `helm upgrade --set` replaces exactly the function whose setting changed; `helm uninstall`
// leaves no operator object behind and releases the RedisCluster from the operator's finalizer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../local/apiserver/client.js';
import { applyCluster, eventually, statusNodes, useE2E, RC_API_VERSION, RC_KIND } from '../helpers/e2e.js';

const OPERATOR_NS = 'redis-operator';
const NS = 'cache';
const NAME = 'rediscluster1';
const e2e = useE2E({ namespaces: [NS] });

const helm = async (...args: string[]) => {
  const r = await e2e.platform.helm(args);
  expect(r.status, `helm ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

const releaseObjects = async (): Promise<KubeObject[]> =>
  parseAllDocuments(await helm('get', 'manifest', 'redis-operator', '--namespace', OPERATOR_NS))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => !!o);

const functionPods = async (): Promise<KubeObject[]> =>
  (await e2e.platform.kube.list('v1', 'Pod', OPERATOR_NS, 'serving.knative.dev/service')).items.filter(
    (p) => !p.metadata?.deletionTimestamp,
  );

const byAddress = (a: { ip: string; port: number }, b: { ip: string; port: number }) =>
  a.ip.localeCompare(b.ip, 'en', { numeric: true }) || a.port - b.port;

let expectedNodes: { ip: string; port: number }[] = [];
let installed: KubeObject[] = [];

describe('the operator installed with helm on the platform', () => {
  it('is a deployed release, every object of it stored', async () => {
    const [release] = JSON.parse(await helm('list', '--namespace', OPERATOR_NS, '--output', 'json')) as Record<string, string>[];
    expect(release).toMatchObject({ name: 'redis-operator', namespace: OPERATOR_NS, revision: '1', status: 'deployed' });
    installed = await releaseObjects();
    expect(installed.filter((o) => o.apiVersion === 'serving.knative.dev/v1')).toHaveLength(6);
    for (const o of installed) {
      const stored = await e2e.platform.kube.get(o.apiVersion!, o.kind!, o.metadata!.name!, o.metadata?.namespace ?? OPERATOR_NS);
      expect(stored, `${o.kind} ${o.metadata!.name}`).toBeDefined();
    }
  });

  it('forms the example, and discovery answers on redis-operator-service:9090 as the platform resolves it', async () => {
    const { ready } = await applyCluster(e2e);
    expectedNodes = statusNodes(ready)
      .map((n) => ({ ip: n.ip, port: n.port }))
      .sort(byAddress);
    expect(expectedNodes).toHaveLength(6);
    const path = `/cluster/nodes?clusterName=${NAME}`;
    // The short name from a Pod in the operator's namespace, the full name from anywhere.
    for (const [host, from] of [
      ['redis-operator-service', OPERATOR_NS],
      [`redis-operator-service.${OPERATOR_NS}.svc.cluster.local`, NS],
    ] as const) {
      const url = await e2e.platform.dns.resolveUrl(`http://${host}:9090${path}`, from);
      expect(url).toMatch(/^http:\/\/127\.\d+\.\d+\.\d+:9090\//);
      const res = await fetch(url);
      const text = await res.text();
      expect(res.status, text).toBe(200);
      expect(JSON.parse(text)).toEqual(expectedNodes);
    }
    // The Service reaches discovery's Pod through its queue-proxy, as on a real Knative install.
    const endpoints = (await e2e.platform.kube.get('v1', 'Endpoints', 'redis-operator-service', OPERATOR_NS)) as
      { subsets?: { addresses?: { ip: string }[]; ports?: { port: number }[] }[] } | undefined;
    const [discoveryPod] = (await functionPods()).filter((p) => p.metadata!.labels!['serving.knative.dev/service'] === 'discovery');
    expect(endpoints?.subsets?.[0]?.addresses?.map((a) => a.ip)).toEqual([discoveryPod!.status!.podIP]);
    expect(endpoints?.subsets?.[0]?.ports?.[0]?.port).toBe(8012);
    // What a user looks at: the function Pod's containers' logs, through kubectl.
    const pod = discoveryPod!.metadata!.name!;
    const fnLog = await e2e.kubectl(['logs', pod, '-n', OPERATOR_NS, '-c', 'discovery', '--tail=100']);
    expect(fnLog.code, fnLog.stderr).toBe(0);
    expect(fnLog.stdout).toContain('"function":"discovery"');
    const proxyLog = await e2e.kubectl(['logs', pod, '-n', OPERATOR_NS, '-c', 'queue-proxy']);
    expect(proxyLog.stdout).toContain(':8012 -> ');
  }, 200_000);

  it('helm upgrade --set replaces the function whose setting changed, and only that one', async () => {
    const before = new Map((await functionPods()).map((p) => [p.metadata!.labels!['serving.knative.dev/service']!, p.metadata!.name!]));
    expect(before.has('discovery')).toBe(true);
    await helm(
      'upgrade',
      'redis-operator',
      `${process.cwd()}/charts/redis-operator`,
      '--namespace',
      OPERATOR_NS,
      '--reuse-values',
      '--set',
      'functions.discovery.env.DISCOVERY_MARK=upgraded',
      '--set',
      'redisOperator.service.type=NodePort',
    );
    const [release] = JSON.parse(await helm('list', '--namespace', OPERATOR_NS, '--output', 'json')) as Record<string, string>[];
    expect(release).toMatchObject({ revision: '2', status: 'deployed' });
    const replaced = await eventually(
      'discovery replaced by a Pod of its new revision',
      async () => {
        const pod = (await functionPods()).find((p) => p.metadata!.labels!['serving.knative.dev/service'] === 'discovery');
        const pid = /^local:\/\/(\d+)$/.exec(
          pod?.status?.containerStatuses?.find((c: { name: string }) => c.name === 'discovery')?.containerID ?? '',
        );
        return pod && pod.metadata!.labels!['serving.knative.dev/revision'] === 'discovery-00002' && pid
          ? { pod, pid: pid[1]! }
          : undefined;
      },
      60_000,
    );
    // The new setting is in the running process's own environment.
    expect(readFileSync(`/proc/${replaced.pid}/environ`, 'utf8').split('\0')).toContain('DISCOVERY_MARK=upgraded');
    for (const name of ['reconcile', 'reshard', 'scale', 'alert-bridge', 'dead-letter']) {
      const svc = await e2e.platform.kube.get('serving.knative.dev/v1', 'Service', name, OPERATOR_NS);
      expect(svc?.metadata?.generation, name).toBe(1);
      if (before.has(name)) expect((await functionPods()).some((p) => p.metadata!.name === before.get(name))).toBe(true);
    }
    // NodePort: discovery on a node's address, from outside the cluster.
    const svc = await e2e.platform.kube.get('v1', 'Service', 'redis-operator-service', OPERATOR_NS);
    const nodePort = svc?.spec?.ports?.[0]?.nodePort as number;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    const answer = await eventually(
      'discovery on the node port',
      async () => {
        const res = await fetch(`http://127.0.0.2:${nodePort}/cluster/nodes?clusterName=${NAME}`).catch(() => undefined);
        return res?.status === 200 ? res.json() : undefined;
      },
      30_000,
    );
    expect(answer).toEqual(expectedNodes);
  }, 120_000);

  it('helm uninstall leaves no operator object, and the RedisCluster runs on without the finalizer', async () => {
    const rc = await e2e.getCluster(NS, NAME);
    expect(rc?.metadata?.finalizers).toContain('redis.redis/finalizer');
    const all = await releaseObjects();
    await helm('uninstall', 'redis-operator', '--namespace', OPERATOR_NS, '--wait', '--timeout', '90s');
    for (const o of all) {
      const left = await e2e.platform.kube.get(o.apiVersion!, o.kind!, o.metadata!.name!, o.metadata?.namespace ?? OPERATOR_NS);
      expect(left, `${o.kind} ${o.metadata!.name} left behind`).toBeUndefined();
    }
    // The hook's own objects and helm's release records are gone too; the namespace keeps only the
    // ServiceAccount every namespace has.
    const namespaceOwn = (o: { kind?: string; metadata?: { name?: string } }, kind: string) =>
      kind === 'ServiceAccount' && o.metadata?.name === 'default';
    for (const [apiVersion, kind] of [
      ['v1', 'Pod'],
      ['v1', 'ServiceAccount'],
      ['v1', 'Secret'],
    ] as const) {
      await eventually(
        `no ${kind} left in ${OPERATOR_NS}`,
        async () => (await e2e.platform.kube.list(apiVersion, kind, OPERATOR_NS)).items.filter((o) => !namespaceOwn(o, kind)).length === 0,
        60_000,
      );
    }
    expect(await e2e.platform.kube.get('rbac.authorization.k8s.io/v1', 'ClusterRole', 'redis-operator-uninstall')).toBeUndefined();

    const released = await e2e.getCluster(NS, NAME);
    expect(released?.metadata?.finalizers ?? []).toEqual([]);
    const pods = (await e2e.platform.kube.list('v1', 'Pod', NS)).items;
    expect(pods.filter((p) => p.status?.phase === 'Running')).toHaveLength(6);

    // Deleting it with kubectl now completes: nothing waits for an operator that is gone.
    const deleted = await e2e.kubectl(['delete', RC_KIND.toLowerCase(), NAME, '-n', NS, '--timeout=30s']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await e2e.platform.kube.get(RC_API_VERSION, RC_KIND, NAME, NS)).toBeUndefined();
    await eventually(
      'its Pods collected by their owner references',
      async () => (await e2e.platform.kube.list('v1', 'Pod', NS)).items.length === 0,
      60_000,
    );
  }, 180_000);
});
