// Least privilege, enforced: on the platform with RBAC on, the operator installed by helm runs each
// function as its own ServiceAccount with the token the kubelet mounted, and still forms a 3x1
// cluster and autoscales it to 4 masters (alert-bridge -> scale -> reconcile + reshard, discovery
// answering). The same tokens are refused what their roles do not grant, with kube-apiserver's 403.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyCluster, eventually, statusNodes, useE2E, waitForReady } from '../helpers/e2e.js';
import type { KubeObject } from '../../local/apiserver/client.js';

const NS = 'cache';
const NAME = 'guarded';
const OPERATOR_NS = 'redis-operator';
const WEBHOOK_TOKEN = 'rbac-e2e-webhook-token';

/** What the API server refused, as it logs each denial. */
const denials: string[] = [];
const e2e = useE2E(
  { namespaces: [NS], authorizationMode: 'RBAC', log: (m) => m.startsWith('api: RBAC:') && denials.push(m) },
  async (e) => {
    await e.platform.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'alert-bridge-webhook', namespace: OPERATOR_NS },
      data: { token: Buffer.from(WEBHOOK_TOKEN).toString('base64') },
    });
  },
);

const identity = (fn: string): string => `system:serviceaccount:${OPERATOR_NS}:${OPERATOR_NS}-${fn}`;

async function functionPod(fn: string): Promise<KubeObject | undefined> {
  const pods = await e2e.platform.kube.list('v1', 'Pod', OPERATOR_NS, `serving.knative.dev/service=${fn}`);
  return pods.items.find((p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running');
}

/** The token the kubelet mounted into the function's running Pod. */
async function mountedToken(fn: string): Promise<string> {
  const pod = await eventually(`a running ${fn} Pod`, () => functionPod(fn), 60_000, 500);
  const dir = `${OPERATOR_NS}_${pod.metadata!.name}_${pod.metadata!.uid}`;
  return readFileSync(join(e2e.stateDir, 'pods', 'pods', dir, 'serviceaccount', 'token'), 'utf8');
}

async function asToken(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${e2e.platform.urls.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function sendAlert(alertname: string, annotations: Record<string, string>): Promise<number> {
  const labels = { alertname, namespace: NS, redis_cluster: NAME, severity: 'warning', instance: '127.0.0.2:1' };
  const alert = {
    status: 'firing',
    labels,
    annotations,
    startsAt: new Date().toISOString(),
    endsAt: '0001-01-01T00:00:00Z',
    fingerprint: 'abad1dea00000001',
  };
  const payload = {
    receiver: 'redis-operator',
    status: 'firing',
    alerts: [alert],
    groupLabels: { alertname },
    commonLabels: labels,
    version: '4',
  };
  const res = await fetch(`${e2e.platform.urls.serving}/${OPERATOR_NS}/alert-bridge/webhooks/alertmanager`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` },
    body: JSON.stringify(payload),
  });
  await res.text();
  return res.status;
}

describe('RBAC enforced on the functions', () => {
  it('each function Pod runs as its own ServiceAccount, and the operator forms, autoscales and serves a cluster', async () => {
    const { ready } = await applyCluster(e2e, {
      name: NAME,
      spec: { masters: 3, replicas: 1, autoscaling: { enabled: true, minMasters: 3, maxMasters: 4, cooldownSeconds: 1 } },
      ports: 8,
    });
    expect(statusNodes(ready)).toHaveLength(6);
    expect(await sendAlert('HighMemoryUsage', { scale_count: '1' })).toBe(200);
    const grown = await eventually(
      '4 masters owning slots, Ready',
      async () => {
        const obj = await waitForReady(e2e, NS, NAME, 240_000, 8);
        return statusNodes(obj).filter((n) => n.role === 'master' && n.slots?.length).length === 4 ? obj : undefined;
      },
      240_000,
      1000,
    );
    const answer = await fetch(`${e2e.platform.urls.serving}/${OPERATOR_NS}/discovery/cluster/nodes?clusterName=${NAME}`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toHaveLength(statusNodes(grown).length);
    for (const fn of ['reconcile', 'reshard', 'scale', 'discovery', 'alert-bridge']) {
      const pod = await functionPod(fn);
      expect(pod?.spec?.serviceAccountName, fn).toBe(`${OPERATOR_NS}-${fn}`);
    }
    // A grant missing from the chart would show as a denial of some function's request.
    expect(denials).toEqual([]);
  }, 420_000);

  it("discovery's token may not delete a Pod: 403 with kube-apiserver's message", async () => {
    const token = await mountedToken('discovery');
    const pod = `${NAME}-0`;
    const res = await asToken(token, 'DELETE', `/api/v1/namespaces/${NS}/pods/${pod}`);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Forbidden',
      code: 403,
      details: { name: pod, kind: 'pods' },
      message: `pods "${pod}" is forbidden: User "${identity('discovery')}" cannot delete resource "pods" in API group "" in the namespace "${NS}"`,
    });
    expect(await e2e.platform.kube.get('v1', 'Pod', pod, NS)).toBeDefined();
    // What its role grants still works with the same token.
    expect((await asToken(token, 'GET', `/api/v1/namespaces/${NS}/pods`)).status).toBe(200);
  }, 120_000);

  it('the discovery process itself acts as its ServiceAccount: unbound, its reads are denied', async () => {
    const binding = `${OPERATOR_NS}-discovery`;
    const kube = e2e.platform.kube;
    const subjects = (await kube.get('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding))!.subjects as unknown[];
    denials.length = 0;
    await kube.patch('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding, undefined, { subjects: [] });
    try {
      const res = await fetch(`${e2e.platform.urls.serving}/${OPERATOR_NS}/discovery/cluster/nodes?clusterName=unbound`);
      await res.text();
      expect(denials.some((d) => d.includes(`User "${identity('discovery')}" cannot`))).toBe(true);
    } finally {
      await kube.patch('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', binding, undefined, { subjects });
    }
  }, 60_000);

  it("scale's token may not read Secrets; reconcile's may create Pods in the cluster's namespace", async () => {
    const scale = await mountedToken('scale');
    const secrets = await asToken(scale, 'GET', `/api/v1/namespaces/${NS}/secrets`);
    expect(secrets.status).toBe(403);
    expect(secrets.body.message).toBe(
      `secrets is forbidden: User "${identity('scale')}" cannot list resource "secrets" in API group "" in the namespace "${NS}"`,
    );
    const reconcile = await mountedToken('reconcile');
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'rbac-probe' }, spec: { containers: [{ name: 'c', image: 'redis' }] } };
    const created = await asToken(reconcile, 'POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, pod);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await asToken('not-a-token', 'GET', '/api')).status).toBe(401);
  }, 120_000);

  it('kubectl auth can-i, impersonating the functions, answers from their roles', async () => {
    const canI = async (fn: string, ...args: string[]) =>
      (await e2e.kubectl(['auth', 'can-i', ...args, '-n', NS, `--as=${identity(fn)}`])).stdout.trim();
    expect(await canI('discovery', 'delete', 'pods')).toBe('no');
    expect(await canI('discovery', 'list', 'pods')).toBe('yes');
    expect(await canI('reconcile', 'create', 'pods')).toBe('yes');
    expect(await canI('scale', 'patch', 'redisclusters.redis.redis/status')).toBe('yes');
    expect(await canI('scale', 'get', 'secrets')).toBe('no');
  }, 60_000);
});
