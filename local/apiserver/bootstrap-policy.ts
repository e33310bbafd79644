// The RBAC defaults every kube-apiserver writes at start (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy): what lets any authenticated client discover the API and ask what it may do.
import type { ApiCore } from './core.js';

const BOOTSTRAP = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

const PUBLIC_INFO = ['/healthz', '/livez', '/readyz', '/version', '/version/'];

const CLUSTER_ROLES: Record<string, unknown[]> = {
  'cluster-admin': [
    { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
    { nonResourceURLs: ['*'], verbs: ['*'] },
  ],
  'system:discovery': [
    {
      nonResourceURLs: [
        '/api',
        '/api/*',
        '/apis',
        '/apis/*',
        '/healthz',
        '/livez',
        '/openapi',
        '/openapi/*',
        '/readyz',
        '/version',
        '/version/',
      ],
      verbs: ['get'],
    },
  ],
  'system:basic-user': [
    { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
  ],
  'system:public-info-viewer': [{ nonResourceURLs: PUBLIC_INFO, verbs: ['get'] }],
};

const group = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name });

const CLUSTER_ROLE_BINDINGS: Record<string, unknown[]> = {
  'cluster-admin': [group('system:masters')],
  'system:discovery': [group('system:authenticated')],
  'system:basic-user': [group('system:authenticated')],
  'system:public-info-viewer': [group('system:authenticated'), group('system:unauthenticated')],
};

/** Creates the default ClusterRoles and their bindings that are missing (users' changes are kept). */
export function ensureBootstrapPolicy(core: ApiCore): void {
  const roles = core.type('rbac.authorization.k8s.io', 'v1', 'clusterroles');
  const bindings = core.type('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings');
  for (const [name, rules] of Object.entries(CLUSTER_ROLES)) {
    if (core.store.get(roles.storageKey, undefined, name)) continue;
    core.create(roles, undefined, { metadata: { name, ...structuredClone(BOOTSTRAP) }, rules });
  }
  for (const [name, subjects] of Object.entries(CLUSTER_ROLE_BINDINGS)) {
    if (core.store.get(bindings.storageKey, undefined, name)) continue;
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name };
    core.create(bindings, undefined, { metadata: { name, ...structuredClone(BOOTSTRAP) }, roleRef, subjects });
  }
}
