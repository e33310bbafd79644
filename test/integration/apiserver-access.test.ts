// ServiceAccount tokens and RBAC on the API server over HTTP: TokenRequest, 401 for a token that
// is bad or whose ServiceAccount or Pod is gone, 403 from the roles, access reviews with
// kube-apiserver's reasons, impersonation, and AlwaysAllow.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../local/apiserver/index.js';
import { KubeRest } from '../../local/apiserver/client.js';

const NS = 'access';
let api: ApiServer;
let open: ApiServer;
let kube: KubeRest;

async function call(
  server: ApiServer,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function token(name: string, spec: Record<string, unknown> = {}, server = api): Promise<string> {
  const res = await call(server, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/${name}/token`, { body: { spec } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.status.token as string;
}

const podPath = `/api/v1/namespaces/${NS}/pods`;
const rbac = 'rbac.authorization.k8s.io/v1';

beforeAll(async () => {
  api = await startApiServer({ port: 0 });
  open = await startApiServer({ port: 0, authorizationMode: 'AlwaysAllow' });
  kube = new KubeRest(api.url);
  for (const server of [api, open]) {
    const k = new KubeRest(server.url);
    await k.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const name of ['reader', 'nobody']) await k.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS } });
  }
  await kube.apply({
    apiVersion: rbac,
    kind: 'Role',
    metadata: { name: 'pod-reader', namespace: NS },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }],
  });
  await kube.apply({
    apiVersion: rbac,
    kind: 'RoleBinding',
    metadata: { name: 'reader', namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [{ kind: 'ServiceAccount', name: 'reader' }],
  });
}, 30_000);

afterAll(async () => {
  await api?.close();
  await open?.close();
});

describe('ServiceAccount tokens', () => {
  it('authenticate as the ServiceAccount; a bad token is 401 with a Status', async () => {
    const t = await token('reader');
    expect((await call(api, 'GET', podPath, { token: t })).status).toBe(200);
    const denied = await call(api, 'POST', podPath, {
      token: t,
      body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } },
    });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toBe(
      `pods is forbidden: User "system:serviceaccount:${NS}:reader" cannot create resource "pods" in API group "" in the namespace "${NS}"`,
    );
    for (const bad of [`${t}x`, 'abc']) {
      expect(await call(api, 'GET', podPath, { token: bad })).toEqual({
        status: 401,
        body: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401,
        },
      });
    }
    expect((await call(api, 'GET', podPath, { headers: { authorization: 'Basic YTpi' } })).status).toBe(401);
  });

  it('`kubectl create token` gets one (TokenRequest in protobuf) that lasts what it asked for', async () => {
    const { stdout } = await promisify(execFile)(
      '/usr/bin/kubectl',
      ['--server', api.url, 'create', 'token', 'reader', '-n', NS, '--duration=20m'],
      {
        env: { ...process.env, KUBECONFIG: '/dev/null' },
      },
    );
    const t = stdout.trim();
    const claims = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; sub: string };
    expect(claims.sub).toBe(`system:serviceaccount:${NS}:reader`);
    expect(claims.exp - claims.iat).toBe(1200);
    expect((await call(api, 'GET', podPath, { token: t })).status).toBe(200);
  });

  it('stop working when the ServiceAccount is recreated or the Pod they are bound to is deleted', async () => {
    await kube.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'holder', namespace: NS },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    const pod = (await kube.get('v1', 'Pod', 'holder', NS))!;
    const bound = await token('reader', {
      expirationSeconds: 3607,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'holder', uid: pod.metadata!.uid },
    });
    expect((await call(api, 'GET', podPath, { token: bound })).status).toBe(200);
    await kube.delete('v1', 'Pod', 'holder', NS);
    expect((await call(api, 'GET', podPath, { token: bound })).status).toBe(401);

    const before = await token('nobody');
    expect((await call(api, 'GET', '/api', { token: before })).status).toBe(200);
    await kube.delete('v1', 'ServiceAccount', 'nobody', NS);
    await kube.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: NS } });
    expect((await call(api, 'GET', '/api', { token: before })).status).toBe(401);
    expect((await call(api, 'POST', `/api/v1/namespaces/${NS}/serviceaccounts/ghost/token`, { body: {} })).status).toBe(404);
  });
});

describe('access reviews and impersonation', () => {
  it('SelfSubjectAccessReview and SubjectAccessReview answer with RBAC reasons', async () => {
    const t = await token('reader');
    const review = (verb: string) => ({ spec: { resourceAttributes: { namespace: NS, verb, resource: 'pods' } } });
    const self = await call(api, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { token: t, body: review('list') });
    expect(self.body.status).toEqual({
      allowed: true,
      reason: `RBAC: allowed by RoleBinding "reader/${NS}" of Role "pod-reader" to ServiceAccount "reader/${NS}"`,
    });
    const other = await call(api, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: { spec: { ...review('delete').spec, user: `system:serviceaccount:${NS}:reader`, groups: ['system:authenticated'] } },
    });
    expect(other.body.status).toEqual({ allowed: false });
    // A ServiceAccount may not review others without a grant to.
    const refused = await call(api, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { token: t, body: other.body });
    expect(refused.status).toBe(403);
  });

  it('impersonation acts as the ServiceAccount, and needs the impersonate verb', async () => {
    const as = { 'impersonate-user': `system:serviceaccount:${NS}:reader` };
    expect((await call(api, 'GET', podPath, { headers: as })).status).toBe(200);
    expect((await call(api, 'GET', `/api/v1/namespaces/${NS}/secrets`, { headers: as })).status).toBe(403);
    const t = await token('reader');
    const refused = await call(api, 'GET', podPath, { token: t, headers: { 'impersonate-user': 'alice' } });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe(
      `users "alice" is forbidden: User "system:serviceaccount:${NS}:reader" cannot impersonate resource "users" in API group "" at the cluster scope`,
    );
  });

  it('AlwaysAllow still authenticates, and lets every token through', async () => {
    const t = await token('nobody', {}, open);
    expect((await call(open, 'GET', `/api/v1/namespaces/${NS}/secrets`, { token: t })).status).toBe(200);
    expect((await call(open, 'GET', `/api/v1/namespaces/${NS}/secrets`, { token: 'bad' })).status).toBe(401);
  });
});
