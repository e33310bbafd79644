// What a function asks of the Kubernetes API, read from its source: the @kubernetes/client-node
// methods it calls, directly or through the shared/kube helpers it calls, turned into RBAC
// (apiGroup, resource, verb) triples. The chart's RBAC is checked against this, so a new call in
// the code without a grant (or a grant no code uses) fails a test.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Grant {
  apiGroup: string;
  resource: string;
  verb: string;
}

/** The Kubernetes verb of a typed client method's prefix (readNamespacedPod -> get). */
const VERB_OF_PREFIX: [RegExp, string][] = [
  [/^(read|get)/, 'get'],
  [/^list/, 'list'],
  [/^create/, 'create'],
  [/^replace/, 'update'],
  [/^patch/, 'patch'],
  [/^delete/, 'delete'],
];

/** The API group and resource of a kind as the client names it in a method (Pod, Lease, ...). */
const RESOURCE_OF_KIND: Record<string, [string, string]> = {
  Pod: ['', 'pods'],
  // createNamespacedPodEviction: the Eviction API is a subresource of the Pod.
  PodEviction: ['', 'pods/eviction'],
  Service: ['', 'services'],
  ConfigMap: ['', 'configmaps'],
  PersistentVolumeClaim: ['', 'persistentvolumeclaims'],
  Secret: ['', 'secrets'],
  Event: ['', 'events'],
  Lease: ['coordination.k8s.io', 'leases'],
  PodDisruptionBudget: ['policy', 'poddisruptionbudgets'],
  StorageClass: ['storage.k8s.io', 'storageclasses'],
};

/** The KubernetesObjectApi methods, whose resource is the kind of the object passed. */
const GENERIC_VERBS: Record<string, string> = {
  read: 'get',
  create: 'create',
  patch: 'patch',
  replace: 'update',
  delete: 'delete',
  list: 'list',
};

/**
 * The grants of one typed client method name; the custom-object methods name the RedisCluster
 * resource (the only custom resource the operator reads or writes).
 */
export function grantsOfMethod(method: string, customResource: [string, string]): Grant[] {
  const verb = VERB_OF_PREFIX.find(([re]) => re.test(method))?.[1];
  if (!verb) return [];
  const custom = /(Cluster|Namespaced)CustomObject(Status|Scale)?$/.exec(method);
  if (custom) {
    const sub = custom[2] ? `/${custom[2].toLowerCase()}` : '';
    return [{ apiGroup: customResource[0], resource: `${customResource[1]}${sub}`, verb }];
  }
  const kind = /^(?:read|get|list|create|replace|patch|delete)(?:Namespaced)?([A-Z][A-Za-z]*?)(?:ForAllNamespaces)?$/.exec(method)?.[1];
  const target = kind ? RESOURCE_OF_KIND[kind] : undefined;
  return target ? [{ apiGroup: target[0], resource: target[1], verb }] : [];
}

/** A call by name, with or without type arguments: name( or name<T>( */
const CALL = /\b(\w+)(?:<[^()]*?>)?\(/g;
const METHOD_CALL = /\.(\w+)(?:<[^()]*?>)?\(/g;

/** Top-level functions and class methods of a source text, by name, with their bodies. */
export function definitionsIn(source: string): Map<string, string> {
  const defs = new Map<string, string>();
  const head = /^(?:export )?(?:async )?function (\w+)|^ {2}(?:async )?(\w+)(?:<[^>]*>)?\([^)]*\)[^{;]*\{$/gm;
  const starts = [...source.matchAll(head)].map((m) => ({ name: (m[1] ?? m[2])!, at: m.index }));
  starts.forEach((s, i) => {
    const body = source.slice(s.at, starts[i + 1]?.at ?? source.length);
    defs.set(s.name, (defs.get(s.name) ?? '') + body);
  });
  return defs;
}

/**
 * The grants a function's own sources need: typed client calls found in them or in the shared
 * definitions they reach by name; generic object calls (kube.apply/read/delete and
 * objects.create/...) on every kind the function's sources build.
 */
export function grantsOf(ownSources: string[], shared: Map<string, string>, customResource: [string, string]): Grant[] {
  const texts = [...ownSources];
  const seen = new Set<string>();
  for (let i = 0; i < texts.length; i++) {
    for (const m of texts[i]!.matchAll(CALL)) {
      const name = m[1]!;
      // A constructor runs when the class is made, which `new Kube()` in a handler says anyway.
      if (name === 'constructor' || seen.has(name) || !shared.has(name)) continue;
      seen.add(name);
      texts.push(shared.get(name)!);
    }
  }
  const kinds = new Set(ownSources.flatMap((s) => [...s.matchAll(/kind: '([A-Z]\w+)'/g)].map((m) => m[1]!)));
  const grants: Grant[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(METHOD_CALL)) grants.push(...grantsOfMethod(m[1]!, customResource));
    for (const m of text.matchAll(/\bobjects\.(\w+)\(/g)) {
      const verb = GENERIC_VERBS[m[1]!];
      if (!verb) continue;
      for (const kind of kinds) {
        const target = RESOURCE_OF_KIND[kind];
        if (target) grants.push({ apiGroup: target[0], resource: target[1], verb });
      }
    }
  }
  return dedupe(grants);
}

/** Sorted, without duplicates: `group/resource:verb` strings, easy to compare and to read in a diff. */
export function grantKeys(grants: Grant[]): string[] {
  return [...new Set(grants.map((g) => `${g.apiGroup}/${g.resource}:${g.verb}`))].sort();
}

function dedupe(grants: Grant[]): Grant[] {
  const keys = new Set<string>();
  return grants.filter((g) => {
    const key = `${g.apiGroup}/${g.resource}:${g.verb}`;
    if (keys.has(key)) return false;
    keys.add(key);
    return true;
  });
}

/** The .ts files of a folder (not recursive: functions/<name>/ and shared/kube/ are flat). */
export function sourcesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'));
}
