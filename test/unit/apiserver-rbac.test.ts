import { describe, expect, it } from 'vitest';
import {
  authorize,
  forbiddenMessage,
  ruleAllows,
  type Attributes,
  type BindingObject,
  type RbacObjects,
  type RoleObject,
  type UserInfo,
} from '../../local/apiserver/rbac.js';
import { requestInfo } from '../../local/apiserver/request-info.js';

const discovery: UserInfo = {
  username: 'system:serviceaccount:redis-operator:redis-operator-discovery',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:redis-operator', 'system:authenticated'],
};

function attrs(method: string, url: string, user: UserInfo = discovery): Attributes {
  return { ...requestInfo(method, new URL(url, 'http://api')), user };
}

function objects(o: {
  clusterRoles?: RoleObject[];
  clusterRoleBindings?: BindingObject[];
  roles?: RoleObject[];
  roleBindings?: BindingObject[];
}): RbacObjects {
  return {
    clusterRoles: () => o.clusterRoles ?? [],
    clusterRoleBindings: () => o.clusterRoleBindings ?? [],
    roles: (ns) => (o.roles ?? []).filter((r) => r.metadata.namespace === ns),
    roleBindings: (ns) => (o.roleBindings ?? []).filter((b) => b.metadata.namespace === ns),
  };
}

const clusterRole = (name: string, rules: RoleObject['rules'], labels?: Record<string, string>): RoleObject => ({
  metadata: { name, ...(labels ? { labels } : {}) },
  rules,
});
const sa = (name: string, namespace?: string) => ({ kind: 'ServiceAccount', name, ...(namespace ? { namespace } : {}) });
const crb = (name: string, role: string, subjects: BindingObject['subjects']): BindingObject => ({
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects,
});

const chartDiscovery = objects({
  clusterRoles: [
    clusterRole('redis-operator-discovery', [
      { apiGroups: ['redis.redis'], resources: ['redisclusters'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
    ]),
  ],
  clusterRoleBindings: [crb('redis-operator-discovery', 'redis-operator-discovery', [sa('redis-operator-discovery', 'redis-operator')])],
});

describe('request attributes, as kube-apiserver reads them from the URL', () => {
  it('names verbs by method and by the presence of a name', () => {
    expect(attrs('GET', '/api/v1/namespaces/cache/pods')).toMatchObject({ verb: 'list', resource: 'pods', namespace: 'cache', name: '' });
    expect(attrs('GET', '/api/v1/namespaces/cache/pods?watch=true')).toMatchObject({ verb: 'watch' });
    expect(attrs('GET', '/api/v1/watch/namespaces/cache/pods/x')).toMatchObject({ verb: 'watch', name: 'x' });
    expect(attrs('GET', '/api/v1/namespaces/cache/pods?fieldSelector=metadata.name%3Dx')).toMatchObject({ verb: 'list', name: 'x' });
    expect(attrs('DELETE', '/api/v1/namespaces/cache/pods')).toMatchObject({ verb: 'deletecollection' });
    expect(attrs('DELETE', '/api/v1/namespaces/cache/pods/x')).toMatchObject({ verb: 'delete', name: 'x' });
    expect(attrs('PATCH', '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/a/status')).toMatchObject({
      verb: 'patch',
      apiGroup: 'redis.redis',
      resource: 'redisclusters',
      subresource: 'status',
    });
    expect(attrs('PUT', '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/a/scale')).toMatchObject({
      verb: 'update',
      subresource: 'scale',
    });
  });

  it('treats a namespace as its own namespace, and discovery paths as non-resource URLs', () => {
    expect(attrs('GET', '/api/v1/namespaces/cache')).toMatchObject({ resource: 'namespaces', name: 'cache', namespace: 'cache' });
    for (const path of ['/api', '/api/v1', '/apis', '/apis/redis.redis', '/apis/redis.redis/v1beta1', '/version', '/healthz']) {
      expect(attrs('GET', path)).toMatchObject({ resourceRequest: false, verb: 'get', path });
    }
  });
});

describe('RBAC rules', () => {
  const rule = { apiGroups: ['redis.redis'], resources: ['redisclusters/scale'], verbs: ['update'] };
  it('matches subresources exactly, or through */subresource', () => {
    expect(ruleAllows(attrs('PUT', '/apis/redis.redis/v1/namespaces/c/redisclusters/a/scale'), rule)).toBe(true);
    expect(ruleAllows(attrs('PUT', '/apis/redis.redis/v1/namespaces/c/redisclusters/a'), rule)).toBe(false);
    expect(ruleAllows(attrs('PUT', '/apis/redis.redis/v1/namespaces/c/redisclusters/a/status'), rule)).toBe(false);
    const anyScale = { apiGroups: ['*'], resources: ['*/scale'], verbs: ['*'] };
    expect(ruleAllows(attrs('PUT', '/apis/apps/v1/namespaces/c/deployments/d/scale'), anyScale)).toBe(true);
    expect(ruleAllows(attrs('PUT', '/apis/apps/v1/namespaces/c/deployments/d'), anyScale)).toBe(false);
    expect(ruleAllows(attrs('GET', '/api/v1/namespaces/c/pods/p/log'), { apiGroups: [''], resources: ['pods'], verbs: ['get'] })).toBe(
      false,
    );
    expect(ruleAllows(attrs('GET', '/api/v1/namespaces/c/pods/p/log'), { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] })).toBe(
      true,
    );
  });

  it('limits by resourceNames, and matches non-resource URLs with a trailing *', () => {
    const named = { apiGroups: [''], resources: ['secrets'], resourceNames: ['redis-auth'], verbs: ['get'] };
    expect(ruleAllows(attrs('GET', '/api/v1/namespaces/c/secrets/redis-auth'), named)).toBe(true);
    expect(ruleAllows(attrs('GET', '/api/v1/namespaces/c/secrets/other'), named)).toBe(false);
    expect(ruleAllows(attrs('GET', '/api/v1/namespaces/c/secrets'), named)).toBe(false);
    const urls = { nonResourceURLs: ['/apis/*', '/version'], verbs: ['get'] };
    expect(ruleAllows(attrs('GET', '/apis/redis.redis/v1beta1'), urls)).toBe(true);
    expect(ruleAllows(attrs('GET', '/version'), urls)).toBe(true);
    expect(ruleAllows(attrs('GET', '/versions'), urls)).toBe(false);
    expect(ruleAllows(attrs('POST', '/version'), urls)).toBe(false);
  });
});

describe('the RBAC authorizer', () => {
  it('allows what the bound ClusterRole grants, and says by which binding', () => {
    expect(authorize(attrs('GET', '/api/v1/namespaces/cache/secrets/s'), chartDiscovery)).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by ClusterRoleBinding "redis-operator-discovery" of ClusterRole "redis-operator-discovery" to ServiceAccount "redis-operator-discovery/redis-operator"',
    });
    expect(authorize(attrs('GET', '/api/v1/pods'), chartDiscovery).allowed).toBe(true);
    expect(authorize(attrs('DELETE', '/api/v1/namespaces/cache/pods/x'), chartDiscovery)).toEqual({ allowed: false, reason: '' });
    expect(
      authorize(attrs('GET', '/api/v1/namespaces/cache/secrets/s', { ...discovery, username: 'someone' }), chartDiscovery).allowed,
    ).toBe(false);
  });

  it('applies a RoleBinding only in its namespace, a ServiceAccount subject defaulting to it', () => {
    const o = objects({
      roles: [{ metadata: { name: 'pods', namespace: 'cache' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['create'] }] }],
      roleBindings: [
        {
          metadata: { name: 'pods', namespace: 'cache' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pods' },
          subjects: [sa('worker')],
        },
      ],
    });
    const worker = { username: 'system:serviceaccount:cache:worker', groups: ['system:authenticated'] };
    expect(authorize(attrs('POST', '/api/v1/namespaces/cache/pods', worker), o)).toEqual({
      allowed: true,
      reason: 'RBAC: allowed by RoleBinding "pods/cache" of Role "pods" to ServiceAccount "worker/cache"',
    });
    expect(authorize(attrs('POST', '/api/v1/namespaces/other/pods', worker), o).allowed).toBe(false);
    expect(
      authorize(attrs('POST', '/api/v1/namespaces/cache/pods', { ...worker, username: 'system:serviceaccount:other:worker' }), o).allowed,
    ).toBe(false);
  });

  it('binds groups and users, lets system:masters do anything, reports a missing role', () => {
    const o = objects({
      clusterRoles: [clusterRole('reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }])],
      clusterRoleBindings: [
        crb('readers', 'reader', [{ kind: 'Group', name: 'system:serviceaccounts' }]),
        crb('broken', 'gone', [{ kind: 'User', name: 'alice' }]),
      ],
    });
    expect(authorize(attrs('GET', '/api/v1/namespaces/x/pods/p'), o).allowed).toBe(true);
    const alice = { username: 'alice', groups: ['system:authenticated'] };
    expect(authorize(attrs('GET', '/api/v1/namespaces/x/pods/p', alice), o)).toEqual({
      allowed: false,
      reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    });
    expect(authorize(attrs('DELETE', '/api/v1/nodes/n', { username: 'admin', groups: ['system:masters'] }), o).allowed).toBe(true);
  });

  it('gives an aggregated ClusterRole the rules of the ClusterRoles its selector picks', () => {
    const o = objects({
      clusterRoles: [
        {
          metadata: { name: 'view' },
          aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'example.com/aggregate-to-view': 'true' } }] },
        },
        clusterRole('redis-view', [{ apiGroups: ['redis.redis'], resources: ['redisclusters'], verbs: ['get'] }], {
          'example.com/aggregate-to-view': 'true',
        }),
        clusterRole('secret-view', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]),
      ],
      clusterRoleBindings: [crb('view', 'view', [sa('redis-operator-discovery', 'redis-operator')])],
    });
    expect(authorize(attrs('GET', '/apis/redis.redis/v1beta1/namespaces/c/redisclusters/a'), o).allowed).toBe(true);
    expect(authorize(attrs('GET', '/api/v1/namespaces/c/secrets/s'), o).allowed).toBe(false);
  });
});

describe("kube-apiserver's 403 messages", () => {
  it('words named, listed, cluster-scoped, subresource and non-resource requests as Kubernetes does', () => {
    expect(forbiddenMessage(attrs('DELETE', '/api/v1/namespaces/cache/pods/x'), '')).toBe(
      'pods "x" is forbidden: User "system:serviceaccount:redis-operator:redis-operator-discovery" cannot delete resource "pods" in API group "" in the namespace "cache"',
    );
    expect(forbiddenMessage(attrs('GET', '/api/v1/secrets'), '')).toBe(
      'secrets is forbidden: User "system:serviceaccount:redis-operator:redis-operator-discovery" cannot list resource "secrets" in API group "" at the cluster scope',
    );
    expect(forbiddenMessage(attrs('PATCH', '/apis/redis.redis/v1beta1/namespaces/cache/redisclusters/a/status'), '')).toBe(
      'redisclusters.redis.redis "a" is forbidden: User "system:serviceaccount:redis-operator:redis-operator-discovery" cannot patch resource "redisclusters/status" in API group "redis.redis" in the namespace "cache"',
    );
    expect(forbiddenMessage(attrs('GET', '/metrics'), '')).toBe(
      'forbidden: User "system:serviceaccount:redis-operator:redis-operator-discovery" cannot get path "/metrics"',
    );
    expect(forbiddenMessage(attrs('GET', '/api/v1/nodes'), 'RBAC: role.rbac.authorization.k8s.io "r" not found')).toMatch(
      /at the cluster scope: RBAC: role/,
    );
  });
});
