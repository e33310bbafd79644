// The embedded platform's Kubernetes API server: plain HTTP; ServiceAccount tokens authenticate,
// RBAC authorizes, and a request without credentials is an administrator's.
import { createServer } from 'node:http';
import { Access, type AuthorizationMode } from './access.js';
import { ensureBootstrapPolicy } from './bootstrap-policy.js';
import type { AddressInfo } from 'node:net';
import { Controllers } from './controllers/background.js';
import { ApiCore } from './core.js';
import { ResourceTable } from './resources.js';
import { ApiHttp } from './server.js';
import { Store } from './store.js';
import { ServiceAccountTokens } from './tokens.js';

export { kubeConfigFor } from './kubeconfig.js';

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Keep objects (and the resourceVersion counter) in this JSON file across restarts. */
  stateFile?: string;
  log?: (msg: string) => void;
  /** How many changes watches can resume from; older resourceVersions get 410 Gone. */
  watchHistory?: number;
  /** Where Services' cluster IPs come from (--service-cluster-ip-range); default 127.96.0.0/16. */
  serviceClusterIpRange?: string;
  /** Where NodePort and LoadBalancer Services' node ports come from; default 30000-32767. */
  serviceNodePortRange?: string;
  /** RBAC (the default) enforces the roles bound to token users; AlwaysAllow lets every request through. */
  authorizationMode?: AuthorizationMode;
  /** The PEM key ServiceAccount tokens are signed with (created when missing); default: a key of this process. */
  serviceAccountSigningKeyFile?: string;
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => undefined);
  const store = new Store(opts.watchHistory ?? 10_000, opts.stateFile, log);
  const core = new ApiCore(store, new ResourceTable(), log, {
    clusterIpRange: opts.serviceClusterIpRange,
    nodePortRange: opts.serviceNodePortRange,
  });
  ensureBootstrapPolicy(core);
  const controllers = new Controllers(core, log);
  const access = new Access(core, new ServiceAccountTokens(opts.serviceAccountSigningKeyFile), opts.authorizationMode ?? 'RBAC', log);
  const http = new ApiHttp(core, access, log);
  const server = createServer({ keepAlive: true }, http.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  controllers.start();
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(`API server listening on ${url}`);
  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    close() {
      closed ??= (async () => {
        controllers.stop();
        http.closeWatches();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await done;
        await store.flush();
      })();
      return closed;
    },
  };
}
