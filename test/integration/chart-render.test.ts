// The operator chart through real helm: lint, render with several value sets, validate every object
// against its upstream schema, refuse wrong values by name, and keep knative/ and keda/ in step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Broker, Trigger } from '@kubernetes-models/knative/eventing.knative.dev/v1';
import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1';
import { ApiServerSource, PingSource, SinkBinding } from '@kubernetes-models/knative/sources.knative.dev/v1';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { AlertmanagerConfig } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { REPO_ROOT } from '../../local/platform.js';
import { DEFAULT_RELEASE, helm, helmTemplate, OPERATOR_CHART } from '../../scripts/helm.js';
import { PLAIN_MANIFESTS, plainManifest } from '../../scripts/gen/manifests.js';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: any;
  [k: string]: unknown;
}

/** The upstream model of every kind the chart renders; an unknown kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Service': Service,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'serving.knative.dev/v1/Service': KnativeService,
  'eventing.knative.dev/v1/Broker': Broker,
  'eventing.knative.dev/v1/Trigger': Trigger,
  'sources.knative.dev/v1/ApiServerSource': ApiServerSource,
  'sources.knative.dev/v1/PingSource': PingSource,
  'sources.knative.dev/v1/SinkBinding': SinkBinding,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'monitoring.coreos.com/v1alpha1/AlertmanagerConfig': AlertmanagerConfig,
  'cert-manager.io/v1/Certificate': Certificate,
  'cert-manager.io/v1/Issuer': Issuer,
};

/**
 * Kinds whose model requires a status (generated from a Go type without omitempty): a client never
 * writes one, so these validate with an empty status added.
 */
const STATUS_REQUIRED = new Set(['sources.knative.dev/v1/SinkBinding']);

const FIXTURES = join(REPO_ROOT, 'test/fixtures/chart-values');
const FUNCTIONS = ['reconcile', 'reshard', 'scale', 'discovery', 'alert-bridge', 'dead-letter'];

function objectsOf(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

function render(valueFile?: string, extra: string[] = []): Obj[] {
  const args = ['template', DEFAULT_RELEASE.name, OPERATOR_CHART, '--namespace', DEFAULT_RELEASE.namespace, '--include-crds', ...extra];
  if (valueFile) args.push('--values', join(FIXTURES, valueFile));
  const r = helm(args);
  if (r.status !== 0) throw new Error(r.stderr);
  return objectsOf(r.stdout);
}

const find = (objs: Obj[], kind: string, name: string): Obj | undefined => objs.find((o) => o.kind === kind && o.metadata.name === name);
const knativeService = (objs: Obj[], name: string): Obj => find(objs, 'Service', name) ?? expect.fail(`no Knative Service ${name}`);
const containerOf = (svc: Obj): any => svc.spec.template.spec.containers[0];
const minScaleOf = (objs: Obj[], name: string): string =>
  knativeService(objs, name).spec.template.metadata.annotations['autoscaling.knative.dev/min-scale'];
const discoveryService = (objs: Obj[]): Obj | undefined =>
  objs.find((o) => o.apiVersion === 'v1' && o.metadata.name === 'redis-operator-service');

function validateAll(objs: Obj[]): void {
  for (const obj of objs) {
    const type = `${obj.apiVersion}/${obj.kind}`;
    const model = MODELS[type];
    expect(model, `a schema for ${obj.apiVersion} ${obj.kind}`).toBeDefined();
    const data = STATUS_REQUIRED.has(type) ? { ...obj, status: {} } : obj;
    expect(() => new model!(data as never).validate(), `${obj.kind} ${obj.metadata.name}`).not.toThrow();
  }
}

describe('helm lint', () => {
  it('passes --strict with the default values', () => {
    const r = helm(['lint', '--strict', OPERATOR_CHART]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});

describe('helm template, every object valid against its upstream schema', () => {
  it('default values: the whole operator, with the CRD and the monitoring objects', () => {
    const objs = render();
    validateAll(objs);
    const kinds = objs.map((o) => o.kind);
    for (const kind of [
      'CustomResourceDefinition',
      'Broker',
      'PingSource',
      'SinkBinding',
      'PodMonitor',
      'PrometheusRule',
      'AlertmanagerConfig',
    ])
      expect(kinds).toContain(kind);
    expect(kinds.filter((k) => k === 'Trigger')).toHaveLength(6);
    expect(kinds.filter((k) => k === 'ApiServerSource')).toHaveLength(2);
    expect(
      objs
        .filter((o) => o.apiVersion === 'serving.knative.dev/v1')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual([...FUNCTIONS].sort());
    // One identity per function, each Service running as its own.
    for (const name of FUNCTIONS) expect(knativeService(objs, name).spec.template.spec.serviceAccountName).toBe(`redis-operator-${name}`);
    expect(kinds).not.toContain('ScaledObject');
    // No token given: the Service refers to a Secret created beside it, not by the chart.
    expect(kinds).not.toContain('Secret');
    // The reference's in-cluster address, in front of a discovery that keeps one Pod; the rest scale to zero.
    expect(discoveryService(objs)!.spec).toEqual({
      type: 'ClusterIP',
      selector: { 'serving.knative.dev/service': 'discovery' },
      ports: [{ name: 'http', port: 9090, targetPort: 8012 }],
    });
    for (const name of FUNCTIONS) expect(minScaleOf(objs, name), name).toBe(name === 'discovery' ? '1' : '0');
    // Only Knative's own annotations: no routing hint that a real Knative would ignore.
    for (const name of FUNCTIONS)
      expect(
        Object.keys(knativeService(objs, name).spec.template.metadata.annotations).every((k) => k.startsWith('autoscaling.knative.dev/')),
      ).toBe(true);
  });

  it('monitoring off: no Prometheus Operator objects, KEDA can still be pointed at a Prometheus', () => {
    const objs = render('monitoring-off.yaml', ['--set', 'keda.enabled=true']);
    validateAll(objs);
    expect(objs.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com'))).toEqual([]);
    expect(find(objs, 'ConfigMap', 'redis-operator-redis-cluster-dashboard')).toBeUndefined();
    const [so] = objs.filter((o) => o.kind === 'ScaledObject');
    expect(so!.spec.triggers[0].metadata.serverAddress).toBe('http://prometheus.monitoring.svc:9090');
  });

  it("KEDA on with two clusters: one ScaledObject each, in the cluster's namespace, on the chart's Prometheus", () => {
    const objs = render('keda-two-clusters.yaml');
    validateAll(objs);
    const scaled = objs.filter((o) => o.kind === 'ScaledObject');
    expect(scaled.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual([
      'cache/rediscluster1-masters',
      'sessions/sessions-masters',
    ]);
    const [cache, sessions] = scaled;
    expect(cache!.spec).toMatchObject({
      minReplicaCount: 3,
      maxReplicaCount: 10,
      scaleTargetRef: { kind: 'RedisCluster', name: 'rediscluster1' },
    });
    expect(sessions!.spec).toMatchObject({ minReplicaCount: 4, maxReplicaCount: 12, scaleTargetRef: { name: 'sessions' } });
    expect(sessions!.spec.triggers[0].metadata.threshold).toBe('858993459');
    expect(sessions!.spec.triggers[0].metadata.query).toContain('namespace="sessions", redis_cluster="sessions"');
    // kube-prometheus-stack (alias prometheus) names its Prometheus Service <release>-prometheus-prometheus.
    for (const so of scaled)
      expect(so.spec.triggers[0].metadata.serverAddress).toBe('http://redis-operator-prometheus-prometheus.redis-operator.svc:9090');
  });

  it('cert-manager: a Certificate per listed cluster into the Secret spec.tls names, one CA Issuer per namespace', () => {
    const objs = render('cert-manager.yaml');
    validateAll(objs);
    const certManager = objs.filter((o) => o.apiVersion === 'cert-manager.io/v1');
    const ids = (kind: string) => certManager.filter((o) => o.kind === kind).map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    expect(ids('Issuer')).toEqual([
      'cache/redis-operator-redis-selfsigned',
      'cache/redis-operator-redis-ca',
      'shop/redis-operator-redis-selfsigned',
      'shop/redis-operator-redis-ca',
    ]);
    expect(ids('Certificate')).toEqual([
      'cache/redis-operator-redis-ca',
      'cache/rediscluster1-tls',
      'cache/sessions-tls',
      'shop/redis-operator-redis-ca',
      'shop/carts-tls',
    ]);
    const certificate = (ns: string, name: string) =>
      certManager.find((o) => o.kind === 'Certificate' && o.metadata.namespace === ns && o.metadata.name === name)!.spec;
    // The root signs itself; the CA Issuer signs with the root's Secret.
    expect(certificate('shop', 'redis-operator-redis-ca')).toMatchObject({
      isCA: true,
      secretName: 'redis-operator-redis-ca',
      privateKey: { rotationPolicy: 'Never' },
      issuerRef: { kind: 'Issuer', name: 'redis-operator-redis-selfsigned' },
    });
    expect(find(objs, 'Issuer', 'redis-operator-redis-ca')!.spec).toEqual({ ca: { secretName: 'redis-operator-redis-ca' } });
    expect(certificate('cache', 'rediscluster1-tls')).toMatchObject({
      secretName: 'rediscluster1-tls',
      dnsNames: [
        'rediscluster1.cache.svc',
        'rediscluster1.cache.svc.cluster.local',
        '*.rediscluster1.cache.svc',
        '*.rediscluster1.cache.svc.cluster.local',
      ],
      usages: ['digital signature', 'server auth', 'client auth'],
      privateKey: { rotationPolicy: 'Always' },
      issuerRef: { group: 'cert-manager.io', kind: 'Issuer', name: 'redis-operator-redis-ca' },
    });
    expect(certificate('cache', 'rediscluster1-tls').ipAddresses).toBeUndefined();
    expect(certificate('cache', 'sessions-tls').secretName).toBe('sessions-certificate');
  });

  it('cert-manager with an issuerRef: only the Certificates, signed by it', () => {
    const objs = render('cert-manager.yaml', [
      '--set',
      'certManager.issuerRef.name=corp-ca',
      '--set',
      'certManager.issuerRef.kind=ClusterIssuer',
    ]);
    validateAll(objs);
    expect(objs.filter((o) => o.kind === 'Issuer')).toEqual([]);
    const certificates = objs.filter((o) => o.kind === 'Certificate');
    expect(certificates.map((o) => o.metadata.name)).toEqual(['rediscluster1-tls', 'sessions-tls', 'carts-tls']);
    for (const c of certificates) expect(c.spec.issuerRef).toEqual({ group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'corp-ca' });
  });

  it('NodePort discovery: the reference Service in front of a warm discovery, and the token Secret', () => {
    const objs = render('nodeport-discovery.yaml');
    validateAll(objs);
    expect(discoveryService(objs)!.spec).toEqual({
      type: 'NodePort',
      selector: { 'serving.knative.dev/service': 'discovery' },
      ports: [{ name: 'http', port: 9090, targetPort: 8012, nodePort: 30090 }],
    });
    expect(minScaleOf(objs, 'discovery')).toBe('1');
    const secret = find(objs, 'Secret', 'alert-bridge-webhook')!;
    expect(secret.stringData).toEqual({ token: 's3cret' });
    const tokenRef = containerOf(knativeService(objs, 'alert-bridge')).env.find((e: { name: string }) => e.name === 'WEBHOOK_TOKEN')
      .valueFrom.secretKeyRef;
    expect(tokenRef).toEqual({ name: 'alert-bridge-webhook', key: 'token' });
  });

  it('networkPolicy on: reconcile gets the namespace and client labels, and alone may manage networkpolicies', () => {
    const grantsPolicies = (objs: Obj[]) =>
      objs
        .filter((o) => o.kind === 'ClusterRole' && (o as any).rules.some((r: any) => r.resources.includes('networkpolicies')))
        .map((o) => o.metadata.name);
    const env = (objs: Obj[]) => containerOf(knativeService(objs, 'reconcile')).env.filter((e: any) => e.name.startsWith('NETWORK_POLICY'));
    const off = render();
    expect(env(off)).toEqual([]);
    expect(grantsPolicies(off)).toEqual([]);

    const on = render(undefined, [
      '--set',
      'networkPolicy.enabled=true',
      '--set-json',
      'networkPolicy.allowedClientLabels={"app.kubernetes.io/part-of":"shop"}',
    ]);
    validateAll(on);
    expect(env(on)).toEqual([
      { name: 'NETWORK_POLICY_OPERATOR_NAMESPACE', value: DEFAULT_RELEASE.namespace },
      { name: 'NETWORK_POLICY_CLIENT_LABELS', value: '{"app.kubernetes.io/part-of":"shop"}' },
    ]);
    expect(grantsPolicies(on)).toEqual(['redis-operator-reconcile']);
    const rule = (find(on, 'ClusterRole', 'redis-operator-reconcile') as any).rules.find((r: any) =>
      r.resources.includes('networkpolicies'),
    );
    expect(rule).toEqual({ apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'patch', 'delete'] });
  });

  it('custom images and resources reach the Services', () => {
    const objs = render('custom-images.yaml');
    validateAll(objs);
    const reconcile = knativeService(objs, 'reconcile');
    expect(containerOf(reconcile).image).toMatch(/^registry\.example\.com\/ops\/reconcile@sha256:/);
    expect(containerOf(reconcile).resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '1', memory: '768Mi' } });
    expect(containerOf(reconcile).env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=512' });
    expect(containerOf(reconcile).env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect(reconcile.spec.template.metadata.annotations['autoscaling.knative.dev/max-scale']).toBe('6');
    const scale = knativeService(objs, 'scale');
    expect(containerOf(scale)).toMatchObject({ image: 'registry.example.com/ops/scale:1.2.3', imagePullPolicy: 'Always' });
    const reshard = knativeService(objs, 'reshard');
    expect(reshard.spec.template.spec.timeoutSeconds).toBe(600);
    expect(containerOf(reshard).resources.limits).toEqual({ memory: '512Mi' });
    // The Trigger's delivery timeout follows the function's own.
    expect(find(objs, 'Trigger', 'reshard-requested')!.spec.delivery.timeout).toBe('PT600S');
  });
});

describe('redis-operator-service:9090, the reference discovery address', () => {
  it.each(['ClusterIP', 'LoadBalancer'])('type %s: a Service of that type on the queue-proxy, discovery kept warm', (type) => {
    // nodePort is a NodePort setting only: with another type it must not reach the Service.
    const objs = render(undefined, ['--set', `redisOperator.service.type=${type}`, '--set', 'redisOperator.service.nodePort=30091']);
    validateAll(objs);
    const services = objs.filter((o) => o.apiVersion === 'v1' && o.kind === 'Service');
    expect(services.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['redis-operator/redis-operator-service']);
    expect(services[0]!.spec).toEqual({
      type,
      selector: { 'serving.knative.dev/service': 'discovery' },
      ports: [{ name: 'http', port: 9090, targetPort: 8012 }],
    });
    expect(minScaleOf(objs, 'discovery')).toBe('1');
  });

  it('a higher minScale of discovery stays as it is', () => {
    const objs = render(undefined, ['--set', 'functions.discovery.minScale=3']);
    expect(minScaleOf(objs, 'discovery')).toBe('3');
  });

  it('enabled=false: no Service, whatever the type, and discovery may scale to zero again', () => {
    const objs = render('nodeport-discovery.yaml', ['--set', 'redisOperator.service.enabled=false']);
    validateAll(objs);
    expect(discoveryService(objs)).toBeUndefined();
    expect(objs.filter((o) => o.apiVersion === 'v1' && o.kind === 'Service')).toEqual([]);
    expect(minScaleOf(objs, 'discovery')).toBe('0');
  });
});

describe('wrong values fail with their name', () => {
  it.each([
    [['--set', 'prometheus.server.scrapeInterval=5'], 'prometheus.server.scrapeInterval'],
    [['--set', 'functions.reconcile.maxScale=many'], 'functions.reconcile.maxScale'],
    [
      ['--set', 'redisOperator.metrics.prometheusRule.rules.memoryThreshold=1.5'],
      'redisOperator.metrics.prometheusRule.rules.memoryThreshold',
    ],
    [['--set', 'redisOperator.service.type=Ingress'], 'redisOperator.service.type'],
    [['--set', 'redisOperator.service.enabled=sometimes'], 'redisOperator.service.enabled'],
    [['--set', 'functions.discovery.paths=/cluster/'], 'paths'],
    [['--set', 'keda.minMasters=1'], 'keda.minMasters'],
    [['--set', 'redisOperator.service.tpye=NodePort'], 'tpye'],
    [['--set', 'networkPolicy.enabled=yes'], 'networkPolicy.enabled'],
    [['--set', 'certManager.duration=90 days'], 'certManager.duration'],
    [['--set', 'certManager.issuerRef.kind=Vault'], 'certManager.issuerRef.kind'],
  ])('%j', (args, name) => {
    const r = helm(['template', 'x', OPERATOR_CHART, ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(name);
  });
});

describe('knative/ and keda/ are the chart rendered with its defaults', () => {
  it.each(PLAIN_MANIFESTS)('$output', ({ output, template }) => {
    expect(readFileSync(join(REPO_ROOT, output), 'utf8'), `${output} is stale: run npm run gen`).toBe(plainManifest(template));
  });

  it('renders the same objects as helm template of the whole chart, but its helm hooks', () => {
    const fromChart = objectsOf(helmTemplate({ setJson: { 'keda.enabled': true } })).filter(
      (o) => o.kind !== 'ConfigMap' && !o.apiVersion.startsWith('monitoring.coreos.com') && !o.metadata.annotations?.['helm.sh/hook'],
    );
    const fromFiles = PLAIN_MANIFESTS.flatMap(({ output }) => objectsOf(readFileSync(join(REPO_ROOT, output), 'utf8')));
    const key = (o: Obj): string => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(fromFiles.map(key).sort()).toEqual(fromChart.map(key).sort());
  });
});
