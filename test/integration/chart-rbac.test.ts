// Least privilege: each function's identity in the rendered chart grants exactly what its code asks
// of the Kubernetes API (read from the code by test/helpers/kube-calls.ts), and the ApiServerSources'
// identity exactly what Knative's adapter needs for the resources they name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../local/platform.js';
import { helmTemplate } from '../../scripts/helm.js';
import { definitionsIn, grantKeys, grantsOf, sourcesIn, type Grant } from '../helpers/kube-calls.js';

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [k: string]: any;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const FUNCTIONS = ['reconcile', 'reshard', 'scale', 'discovery', 'alert-bridge', 'dead-letter'];
const crd = parse(readFileSync(join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8'));
const customResource: [string, string] = [crd.spec.group, crd.spec.names.plural];

const objs = parseAllDocuments(helmTemplate())
  .map((d) => d.toJS() as Obj | null)
  .filter((o): o is Obj => o !== null);

/** Every (group, resource, verb) the ClusterRoles bound to a ServiceAccount grant. */
function grantedTo(serviceAccount: string): string[] {
  const roles = objs
    .filter(
      (o) =>
        o.kind === 'ClusterRoleBinding' &&
        o.subjects.some((s: { kind: string; name: string }) => s.kind === 'ServiceAccount' && s.name === serviceAccount),
    )
    .map((b) => objs.find((o) => o.kind === 'ClusterRole' && o.metadata.name === b.roleRef.name)!);
  const grants: Grant[] = roles.flatMap((r) =>
    (r.rules as Rule[]).flatMap((rule) =>
      rule.apiGroups.flatMap((apiGroup) => rule.resources.flatMap((resource) => rule.verbs.map((verb) => ({ apiGroup, resource, verb })))),
    ),
  );
  return grantKeys(grants);
}

const sharedDefinitions = new Map<string, string>();
for (const source of sourcesIn(join(REPO_ROOT, 'shared/kube'))) {
  for (const [name, body] of definitionsIn(source)) sharedDefinitions.set(name, (sharedDefinitions.get(name) ?? '') + body);
}

describe('each function runs as an identity with exactly the verbs its code uses', () => {
  it.each(FUNCTIONS)('%s', (name) => {
    const service = objs.find((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1' && o.metadata.name === name)!;
    const account = service.spec.template.spec.serviceAccountName as string;
    expect(objs.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === account)).toBe(true);
    const used = grantKeys(grantsOf(sourcesIn(join(REPO_ROOT, 'functions', name)), sharedDefinitions, customResource));
    expect(grantedTo(account)).toEqual(used);
  });

  it('no two functions share an identity, no identity can touch RBAC, and only reconcile writes Secrets', () => {
    const accounts = FUNCTIONS.map(
      (name) => objs.find((o) => o.kind === 'Service' && o.metadata.name === name)!.spec.template.spec.serviceAccountName,
    );
    expect(new Set(accounts).size).toBe(FUNCTIONS.length);
    const all = objs.filter((o) => o.kind === 'ServiceAccount').flatMap((sa) => grantedTo(sa.metadata.name));
    expect(all.filter((g) => g.startsWith('rbac.authorization.k8s.io/'))).toEqual([]);
    const reconcile = accounts[FUNCTIONS.indexOf('reconcile')];
    const others = objs
      .filter((o) => o.kind === 'ServiceAccount' && o.metadata.name !== reconcile)
      .flatMap((sa) => grantedTo(sa.metadata.name));
    expect(others.filter((g) => g.startsWith('/secrets:') && g !== '/secrets:get')).toEqual([]);
    // Each cluster's users Secret (shared/kube/users-secret.ts): made once, a removed key put back.
    expect(grantedTo(reconcile).filter((g) => g.startsWith('/secrets:'))).toEqual(['/secrets:create', '/secrets:get', '/secrets:update']);
  });
});

describe('the uninstall hook', () => {
  it("runs the reconcile image's release command as an identity with exactly the verbs release.ts uses", () => {
    const pod = objs.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'post-delete')!;
    expect(pod.spec.containers[0].args).toEqual(['release']);
    const reconcile = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'reconcile')!;
    expect(pod.spec.containers[0].image).toBe(reconcile.spec.template.spec.containers[0].image);
    const used = grantKeys(
      grantsOf([readFileSync(join(REPO_ROOT, 'functions/reconcile/release.ts'), 'utf8')], sharedDefinitions, customResource),
    );
    expect(used.length).toBeGreaterThan(0);
    expect(grantedTo(pod.spec.serviceAccountName)).toEqual(used);
  });
});

describe('the ApiServerSources', () => {
  it('run as an identity that can get, list and watch what they name, nothing more', () => {
    const sources = objs.filter((o) => o.kind === 'ApiServerSource');
    const accounts = new Set(sources.map((s) => s.spec.serviceAccountName as string));
    expect(accounts.size).toBe(1);
    const needed: Grant[] = sources.flatMap((s) =>
      (s.spec.resources as { apiVersion: string; kind: string }[]).flatMap(({ apiVersion, kind }) => {
        const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
        const resource = kind === crd.spec.names.kind ? crd.spec.names.plural : `${kind.toLowerCase()}s`;
        return ['get', 'list', 'watch'].map((verb) => ({ apiGroup: group, resource, verb }));
      }),
    );
    expect(grantedTo([...accounts][0]!)).toEqual(grantKeys(needed));
  });
});
