// Every file derived from a source of truth in the code, and how to render it. `npm run gen`
// writes them; `npm run gen -- --check` and the tests fail when a committed copy is stale.
import { redisClusterCrdYaml } from '../../shared/api/crd.js';
import { apiDocs } from './api-docs.js';
import { chartValuesSchemaJson } from './chart-values.js';
import { namespaceManifest, PLAIN_MANIFESTS, plainManifest } from './manifests.js';

export interface GenStep {
  /** What the file is, for the log. */
  name: string;
  /** Path relative to the repository root. */
  output: string;
  render(): string | Promise<string>;
}

export const steps: GenStep[] = [
  {
    name: 'RedisCluster CRD',
    output: 'charts/redis-operator/crds/redisclusters.redis.redis.yaml',
    render: redisClusterCrdYaml,
  },
  {
    name: 'RedisCluster API reference',
    output: 'docs/api.md',
    render: apiDocs,
  },
  { name: 'chart values schema', output: 'charts/redis-operator/values.schema.json', render: chartValuesSchemaJson },
  { name: 'operator namespace', output: 'knative/00-namespace.yaml', render: namespaceManifest },
  ...PLAIN_MANIFESTS.map(({ output, template }) => ({ name: `chart ${template}`, output, render: () => plainManifest(template) })),
];
