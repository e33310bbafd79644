// The embedded platform's Kubernetes API server: plain HTTP, no authentication.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Controllers } from './controllers/background.js';
import { ApiCore } from './core.js';
import { ResourceTable } from './resources.js';
import { ApiHttp } from './server.js';
import { Store } from './store.js';

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
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => undefined);
  const store = new Store(opts.watchHistory ?? 10_000, opts.stateFile, log);
  const core = new ApiCore(store, new ResourceTable(), log, {
    clusterIpRange: opts.serviceClusterIpRange,
    nodePortRange: opts.serviceNodePortRange,
  });
  const controllers = new Controllers(core, log);
  const http = new ApiHttp(core, log);
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
