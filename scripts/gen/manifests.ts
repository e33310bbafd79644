// knative/ and keda/ for `kubectl apply -f` users: the chart's own templates rendered with the
// default values, so the chart stays the one source of these objects.
import { DEFAULT_RELEASE, documentsBySource, helmTemplate } from '../helm.js';

const HEADER = '# Generated from charts/redis-operator by `npm run gen` (helm template): edit the chart.\n';

/** The plain manifest files and the chart template each comes from. */
export const PLAIN_MANIFESTS: { output: string; template: string }[] = [
  ...['broker', 'rbac', 'services', 'sources', 'triggers'].map((name) => ({
    output: `knative/${name}.yaml`,
    template: `templates/knative/${name}.yaml`,
  })),
  // Not a Knative object, but part of the operator a kubectl user applies: the reference's address.
  { output: 'knative/discovery-service.yaml', template: 'templates/discovery-service.yaml' },
  { output: 'keda/scaledobject.yaml', template: 'templates/keda/scaledobject.yaml' },
];

let rendered: Map<string, string[]> | undefined;

/** One manifest file: the template's comment first, then its objects. */
export function plainManifest(template: string): string {
  // KEDA's example needs its ScaledObject, off by default in the chart.
  rendered ??= documentsBySource(helmTemplate({ setJson: { 'keda.enabled': true } }));
  const docs = rendered.get(template);
  if (!docs) throw new Error(`helm rendered nothing from ${template}`);
  const isComment = (d: string): boolean => d.split('\n').every((l) => l === '' || l.startsWith('#'));
  const comments = docs.filter(isComment).join('');
  const objects = docs.filter((d) => !isComment(d));
  return HEADER + comments + objects.map((d) => d.trimEnd() + '\n').join('---\n');
}

/** The operator's namespace, which a chart leaves to `helm install --create-namespace`. */
export function namespaceManifest(): string {
  return `${HEADER}# The operator's own namespace: its functions, Broker and sources live here; RedisClusters may live
# in any namespace.
apiVersion: v1
kind: Namespace
metadata:
  name: ${DEFAULT_RELEASE.namespace}
  labels:
    app.kubernetes.io/part-of: redis-operator
`;
}
