// OpenAPI v3 stubs: just enough for `kubectl apply` to find each kind's PATCH operation and its
// `fieldValidation` parameter, so it leaves validation to this server.
import { createHash } from 'node:crypto';
import { groupVersion, type ResourceTable } from './resources.js';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function groupVersionDocument(table: ResourceTable, group: string, version: string): Record<string, unknown> | undefined {
  const types = table.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  const fieldValidation = {
    name: 'fieldValidation',
    in: 'query',
    description: 'Ignore, Warn or Strict: what to do with unknown or duplicate fields',
    schema: { type: 'string', uniqueItems: true },
  };
  for (const t of types) {
    const base = `/${gvPath(group, version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}/{name}`;
    const gvk = { group, version, kind: t.kind };
    const op = (verb: string) => ({
      operationId: `${verb}${t.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      parameters: [fieldValidation],
      responses: { '200': { description: 'OK' } },
    });
    if (t.openAPIV3Schema) {
      // Named as Kubernetes names CRD schemas (reversed group), so `kubectl explain` finds it.
      const name = `${t.group.split('.').reverse().join('.')}.${t.version}.${t.kind}`;
      const props = (t.openAPIV3Schema.properties ?? {}) as Record<string, unknown>;
      schemas[name] = {
        ...t.openAPIV3Schema,
        properties: {
          apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
          kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
          metadata: { type: 'object', description: 'Standard object metadata.' },
          ...props,
        },
        'x-kubernetes-group-version-kind': [gvk],
      };
    }
    paths[base] = {
      get: { ...op('get'), parameters: [] },
      put: op('put'),
      patch: op('patch'),
      delete: { ...op('delete'), parameters: [] },
    };
    paths[`/${gvPath(group, version)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}`] = { post: op('post') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths,
    components: { schemas },
  };
}

export function openApiIndex(table: ResourceTable): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [group, versions] of table.groups()) {
    for (const version of versions) {
      const doc = groupVersionDocument(table, group, version);
      const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 32).toUpperCase();
      paths[gvPath(group, version)] = { serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}` };
    }
  }
  return { paths };
}

export { groupVersion };
