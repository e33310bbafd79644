// `npm start`: the embedded platform with the example RedisCluster (or the manifests given on the
// command line), until Ctrl-C.
//
//   npm start                         # examples/rediscluster.yaml
//   npm start -- my-cluster.yaml ...  # these manifests instead
//   npm start -- --no-example         # nothing but the operator
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { KubeObject } from './apiserver/client.js';
import { REPO_ROOT, startPlatform, type Platform } from './platform.js';
import { OPERATOR_RELEASE } from './operator.js';

export interface MainArgs {
  manifests: string[];
  persist: boolean;
  monitoring: boolean;
}

export function parseArgs(argv: string[]): MainArgs {
  let example = true;
  let persist = false;
  let monitoring = true;
  const manifests: string[] = [];
  for (const a of argv) {
    if (a === '--no-example') example = false;
    else if (a === '--persist') persist = true;
    else if (a === '--no-monitoring') monitoring = false;
    else if (a === '-h' || a === '--help') {
      console.log('usage: npm start -- [--no-example] [--persist] [--no-monitoring] [manifest.yaml ...]');
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a} (known: --no-example, --persist, --no-monitoring)`);
    else manifests.push(resolve(a));
  }
  if (manifests.length === 0 && example) manifests.push(join(REPO_ROOT, 'examples', 'rediscluster.yaml'));
  return { manifests, persist, monitoring };
}

/** Where discovery answers from the host: the reference's Service as the platform exposes it. */
export async function discoveryUrl(platform: Platform): Promise<string | undefined> {
  const { name, namespace } = { name: 'redis-operator-service', namespace: OPERATOR_RELEASE.namespace };
  const svc = await platform.kube.get('v1', 'Service', name, namespace).catch(() => undefined);
  const port = svc?.spec?.ports?.[0];
  if (!port) return undefined;
  const lb = svc.status?.loadBalancer?.ingress?.[0]?.ip as string | undefined;
  if (lb) return `http://${lb}:${port.port}`;
  if (port.nodePort) return `http://127.0.0.1:${port.nodePort}`;
  return svc.spec.clusterIP && svc.spec.clusterIP !== 'None' ? `http://${svc.spec.clusterIP}:${port.port}` : undefined;
}

/**
 * Called once the platform is up, with the RedisClusters that were applied. The place to wait for
 * them to become Ready and print how to connect (`redis-cli -c -h ... -p ...`).
 */
export async function waitForExample(platform: Platform, clusters: KubeObject[]): Promise<void> {
  const { urls } = platform;
  const discovery = await discoveryUrl(platform);
  for (const c of clusters) {
    const name = c.metadata!.name!;
    const namespace = c.metadata?.namespace ?? 'default';
    const started = Date.now();
    let lastNote = started;
    let ready: KubeObject | undefined;
    for (;;) {
      const obj = await platform.kube.get(c.apiVersion!, c.kind!, name, namespace).catch(() => undefined);
      const status = obj?.status as { phase?: string; conditions?: { type: string; status: string; message?: string }[] } | undefined;
      const condition = status?.conditions?.find((x) => x.type === 'Ready');
      if (status?.phase === 'Ready' && condition?.status === 'True') {
        ready = obj;
        break;
      }
      if (Date.now() - lastNote > 10_000) {
        lastNote = Date.now();
        console.log(`  ${namespace}/${name}: ${status?.phase ?? 'Pending'}${condition?.message ? ` (${condition.message})` : ''}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const nodes = ((ready!.status as { nodes?: { ip: string; port: number; role: string }[] }).nodes ?? []).filter(
      (n) => n.role === 'master',
    );
    const first = nodes[0];
    console.log(
      [
        `RedisCluster ${namespace}/${name} is Ready after ${((Date.now() - started) / 1000).toFixed(1)} s.`,
        `  kubectl --server ${urls.api} get redisclusters -n ${namespace}`,
        ...(discovery ? [`  curl '${discovery}/cluster/nodes?clusterName=${name}'`] : []),
        ...(first ? [`  redis-cli -c -h ${first.ip} -p ${first.port}`] : []),
      ].join('\n'),
    );
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const verbose = process.env.LOCAL_VERBOSE === '1';
  const platform = await startPlatform({
    manifests: args.manifests,
    persist: args.persist,
    // Prometheus beside discovery's 127.0.0.1:9090; Alertmanager on its usual port.
    monitoring: args.monitoring ? { prometheusPort: 9091, alertmanagerPort: 9093 } : false,
    log: (m) => {
      // Readiness probes fail while anything starts; the Pods' conditions say it better.
      const noise = /readiness probe of .* failed/.test(m);
      if (verbose || (!noise && /failed|error|refused|not delivered|exited/i.test(m))) console.log(`[local] ${m}`);
    },
  });
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping every process the platform started...`);
    platform
      .stop()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error(err);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const { urls } = platform;
  const discovery = await discoveryUrl(platform);
  console.log(
    [
      'The local platform is up, with the operator installed by helm (release redis-operator).',
      `  API server     ${urls.api}`,
      `                 kubectl --server ${urls.api} get redisclusters,pods -A`,
      `                 KUBECONFIG=${platform.stateDir}/helm/kubeconfig helm list -A`,
      `  Discovery      ${discovery ?? '(no redis-operator-service)'}/cluster/nodes?clusterName=<name>`,
      `  Prometheus     ${urls.prometheus ?? '(off: --no-monitoring)'}`,
      `  Alertmanager   ${urls.alertmanager ?? '(off: --no-monitoring)'}`,
      `  Broker         ${platform.eventing.brokerUrl('redis-operator', 'default')}`,
      `  Functions      ${urls.serving}/<namespace>/<service>/`,
      `  Logs           ${platform.stateDir}`,
      args.manifests.length ? `  Applied        ${args.manifests.join(', ')}` : '  Applied        (no example)',
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
  await waitForExample(
    platform,
    platform.applied.filter((o) => o.kind === 'RedisCluster'),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`local platform: ${(err as Error).message}`);
    process.exit(1);
  });
}
