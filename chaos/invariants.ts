// What must hold after every run: the cluster is Ready as the spec asks, every Pod Ready,
// `redis-cli --cluster check` clean, no slot open and no node failed, unknown or in handshake on any
// node; and once the RedisCluster is deleted, nothing of it is left (finalizer, Pods, claims, Lease).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { leaseNameFor } from '../shared/kube/lease.js';
import { selectorFor } from '../shared/api/labels.js';
import { clientTls } from '../shared/tls/secret.js';
import { clusterPods, condition, podIsReady, statusNodes, withNode, type ClusterStatusView } from '../test/helpers/e2e.js';
import type { ChaosTarget } from './faults.js';

const run = promisify(execFile);

/** The problems with the cluster as it is now; none when it is Ready and clean. */
export async function clusterProblems(t: ChaosTarget, want: { masters: number; replicas: number }): Promise<string[]> {
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  const status = obj?.status as ClusterStatusView | undefined;
  const ready = condition(obj, 'Ready');
  if (!obj || status?.phase !== 'Ready' || ready?.status !== 'True') {
    return [`phase ${status?.phase ?? 'none'}, Ready ${ready?.status ?? '-'} (${ready?.reason ?? ''}: ${ready?.message ?? ''})`];
  }
  if (status.observedGeneration !== obj.metadata?.generation) return ['status not yet for the current generation'];
  const nodes = statusNodes(obj);
  const problems: string[] = [];
  const total = want.masters * (1 + want.replicas);
  if (nodes.length !== total) problems.push(`${nodes.length} nodes in status, want ${total}`);
  const masters = nodes.filter((n) => n.role === 'master').length;
  if (masters !== want.masters) problems.push(`${masters} masters, want ${want.masters}`);
  const pods = await clusterPods(t.e2e, t.namespace, t.name);
  for (const p of pods.filter((p) => !podIsReady(p))) problems.push(`Pod ${p.metadata!.name} not Ready`);
  for (const n of nodes) {
    const lines = await withNode(n, async (r) => String(await r.call('CLUSTER', 'NODES')), {
      connectTimeoutMs: 1000,
      ...(t.password ? { password: t.password } : {}),
      ...(t.tls ? { tls: clientTls(t.tls.ca) } : {}),
    }).catch((err: Error) => `unreachable ${err.message}`);
    if (lines.startsWith('unreachable')) problems.push(`${n.pod}: ${lines}`);
    for (const line of lines.split('\n').filter(Boolean)) {
      const [id, , flags = '', ...rest] = line.split(' ');
      const bad = flags.split(',').filter((f) => ['fail', 'fail?', 'noaddr', 'handshake'].includes(f));
      if (bad.length > 0) problems.push(`${n.pod} sees ${id} ${bad.join(',')}`);
      if (rest.some((field) => field.startsWith('['))) problems.push(`${n.pod}: slot open (importing/migrating)`);
    }
  }
  if (problems.length === 0 && nodes[0]) problems.push(...(await clusterCheck(nodes[0], t)));
  return problems;
}

/** `redis-cli --cluster check`: its exit code and any warning or error it prints. */
async function clusterCheck(node: { ip: string; port: number }, t: Pick<ChaosTarget, 'password' | 'tls'>): Promise<string[]> {
  try {
    const env = t.password ? { ...process.env, REDISCLI_AUTH: t.password } : process.env;
    const tls = t.tls ? ['--tls', '--cacert', t.tls.caFile] : [];
    const { stdout } = await run('redis-cli', [...tls, '--cluster', 'check', `${node.ip}:${node.port}`], { timeout: 20_000, env });
    return stdout
      .split('\n')
      .filter((l) => /\[(WARNING|ERR)\]/.test(l))
      .map((l) => `cluster check: ${l.trim()}`);
  } catch (err) {
    return [`cluster check failed: ${(err as { stdout?: string }).stdout?.split('\n').find((l) => l.includes('[ERR]')) ?? String(err)}`];
  }
}

/** What is left of the cluster after its deletion: none once the finalizer ran and its objects are gone. */
export async function leftovers(t: ChaosTarget): Promise<string[]> {
  const kube = t.e2e.platform.kube;
  const left: string[] = [];
  if (await t.e2e.getCluster(t.namespace, t.name)) left.push('the RedisCluster (finalizer stuck)');
  for (const [apiVersion, kind] of [
    ['v1', 'Pod'],
    ['v1', 'PersistentVolumeClaim'],
  ] as const) {
    const items = (await kube.list(apiVersion, kind, t.namespace, selectorFor(t.name))).items;
    left.push(...items.map((o) => `${kind} ${o.metadata!.name}`));
  }
  const lease = await kube.get('coordination.k8s.io/v1', 'Lease', leaseNameFor(t.name), t.namespace);
  if (lease) left.push(`Lease ${leaseNameFor(t.name)}`);
  return left;
}
