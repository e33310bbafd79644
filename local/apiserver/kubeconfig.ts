// A client-node KubeConfig for the local API server: plain HTTP, without credentials (an
// administrator's) or with a ServiceAccount token file.
import { KubeConfig } from '@kubernetes/client-node';

export function kubeConfigFor(url: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: url, skipTLSVerify: true }],
    users: [{ name: 'local' }],
    contexts: [{ name: 'local', cluster: 'local', user: 'local', namespace: 'default' }],
    currentContext: 'local',
  });
  return kc;
}

/**
 * The same as a kubeconfig file, for kubectl and other tools; with `tokenFile`, requests carry that
 * token (client-go reads `tokenFile`, client-node `token-file`).
 */
export function kubeConfigYaml(url: string, namespace = 'default', tokenFile?: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: local',
    '  cluster:',
    `    server: ${url}`,
    // client-node 1.4 refuses a plain-HTTP server unless TLS verification is explicitly off.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: local',
    ...(tokenFile ? ['  user:', `    tokenFile: ${tokenFile}`, `    token-file: ${tokenFile}`] : ['  user: {}']),
    'contexts:',
    '- name: local',
    '  context:',
    '    cluster: local',
    '    user: local',
    `    namespace: ${namespace}`,
    'current-context: local',
    '',
  ].join('\n');
}
