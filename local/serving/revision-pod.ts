// The Pod of one instance of a Knative revision, as Knative's Deployment for the revision makes
// it: the user container (PORT 8080, K_SERVICE/K_CONFIGURATION/K_REVISION, the SinkBinding's
// K_SINK) and the queue-proxy in front of it on 8012, which carries the revision's readiness
// probe. Pure: the Service and its settings in, the Pod out.
import { createHash, randomBytes } from 'node:crypto';
import type { KubeObject } from '../apiserver/client.js';
import type { ServiceSettings } from './config.js';
import { QUEUE_PROXY_IMAGE } from './images.js';

export const USER_PORT = 8080;
export const QUEUE_PORT = 8012;

/** Labels Knative puts on a revision's Pods; a plain Service selects them by the first. */
export function revisionLabels(svc: KubeObject, revision: string): Record<string, string> {
  const name = svc.metadata!.name!;
  return {
    'serving.knative.dev/service': name,
    'serving.knative.dev/configuration': name,
    'serving.knative.dev/revision': revision,
    'serving.knative.dev/configurationGeneration': String(svc.metadata?.generation ?? 1),
    app: revision,
  };
}

const suffix = (n: number): string => [...randomBytes(n)].map((b) => 'bcdfghjklmnpqrstvwxz2456789'[b % 27]).join('');

export function revisionPod(svc: KubeObject, s: ServiceSettings, extraEnv: Record<string, string>): KubeObject {
  const template = svc.spec?.template ?? {};
  const user = template.spec.containers[0];
  const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
  const env = [
    ...s.env,
    ...Object.entries(extraEnv).map(([name, value]) => ({ name, value })),
    { name: 'PORT', value: String(USER_PORT) },
    { name: 'K_REVISION', value: s.revision },
    { name: 'K_CONFIGURATION', value: svc.metadata!.name },
    { name: 'K_SERVICE', value: svc.metadata!.name },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${s.revision}-deployment-${hash}-${suffix(5)}`,
      namespace: svc.metadata!.namespace,
      labels: { ...(template.metadata?.labels ?? {}), ...revisionLabels(svc, s.revision) },
      annotations: { ...(template.metadata?.annotations ?? {}) },
      // The Service owns its revisions' Pods here (Knative: through Revision, Deployment, ReplicaSet).
      ownerReferences: [
        {
          apiVersion: svc.apiVersion ?? 'serving.knative.dev/v1',
          kind: 'Service',
          name: svc.metadata!.name,
          uid: svc.metadata!.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...(template.spec.serviceAccountName ? { serviceAccountName: template.spec.serviceAccountName } : {}),
      terminationGracePeriodSeconds: s.timeoutSeconds,
      restartPolicy: 'Always',
      containers: [
        {
          name: user.name ?? 'user-container',
          image: user.image,
          env,
          ports: [{ name: 'user-port', containerPort: USER_PORT, protocol: 'TCP' }],
          ...(user.resources ? { resources: user.resources } : {}),
          ...(user.args ? { args: user.args } : {}),
          ...(user.command ? { command: user.command } : {}),
        },
        {
          name: 'queue-proxy',
          image: QUEUE_PROXY_IMAGE,
          env: [
            { name: 'QUEUE_SERVING_PORT', value: String(QUEUE_PORT) },
            { name: 'USER_PORT', value: String(USER_PORT) },
            { name: 'CONTAINER_CONCURRENCY', value: String(s.containerConcurrency) },
            { name: 'REVISION_TIMEOUT_SECONDS', value: String(s.timeoutSeconds) },
            { name: 'SERVING_NAMESPACE', value: svc.metadata!.namespace },
            { name: 'SERVING_SERVICE', value: svc.metadata!.name },
            { name: 'SERVING_REVISION', value: s.revision },
          ],
          ports: [{ name: 'queue-port', containerPort: QUEUE_PORT, protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: s.readinessPath, port: QUEUE_PORT }, periodSeconds: 1, failureThreshold: 3 },
          resources: { requests: { cpu: '25m' } },
        },
      ],
    },
  };
}
