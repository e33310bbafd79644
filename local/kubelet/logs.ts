// The kubelet's HTTP server, as far as the API server needs it: GET
// /containerLogs/{namespace}/{pod}/{container} with Kubernetes' PodLogOptions. It listens on every
// virtual node's address at one port, so the API server reaches a node's kubelet as in Kubernetes:
// the Node's InternalIP and its status.daemonEndpoints.kubeletEndpoint.Port. Plain HTTP, like the
// API server of this platform.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { chooseRun, LogRequestError, runLogFile, streamLog, type PodLogOptions } from './log-read.js';
import type { PodStatusJson } from './status.js';

/** What the server needs of a Pod the kubelet runs. */
export interface LogPod {
  readonly pod: V1Pod;
  readonly podDir: string;
  currentStatus(now: number): PodStatusJson;
}

export interface LogServerOptions {
  addresses: string[];
  /** 0 picks a free port (the same on every address). */
  port: number;
  pod(namespace: string, name: string): LogPod | undefined;
  log(message: string): void;
}

export interface LogServer {
  port: number;
  close(): Promise<void>;
}

/** Go's strconv.ParseBool, which Kubernetes' query decoding uses. */
function parseBool(value: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new Error(value);
}

function parseInteger(value: string): number {
  if (!/^[+-]?\d+$/.test(value)) throw new Error(value);
  return Number(value);
}

/** The query as PodLogOptions: 400 when it does not decode, 422 when ValidatePodLogOptions refuses it. */
export function podLogOptions(q: URLSearchParams, now = Date.now()): PodLogOptions {
  const tail = q.get('tail') ?? undefined; // the older name of tailLines; "all" means no limit
  const raw = (name: string): string | undefined => q.get(name) ?? (name === 'tailLines' && tail !== 'all' ? tail : undefined);
  let opts: PodLogOptions & { sinceSeconds?: number; sinceTime?: number };
  try {
    const bool = (name: string): boolean => (raw(name) === undefined ? false : parseBool(raw(name)!));
    const int = (name: string): number | undefined => (raw(name) === undefined ? undefined : parseInteger(raw(name)!));
    const sinceTime = raw('sinceTime');
    opts = {
      follow: bool('follow'),
      previous: bool('previous'),
      timestamps: bool('timestamps'),
      tailLines: int('tailLines'),
      limitBytes: int('limitBytes'),
      sinceSeconds: int('sinceSeconds'),
      sinceTime: sinceTime === undefined ? undefined : Date.parse(sinceTime),
    };
    if (Number.isNaN(opts.sinceTime)) throw new Error(sinceTime);
  } catch {
    throw new LogRequestError(400, '{"message": "Unable to decode query."}');
  }
  const { sinceSeconds, sinceTime, ...rest } = opts;
  const invalid =
    (rest.tailLines !== undefined && rest.tailLines < 0) ||
    (rest.limitBytes !== undefined && rest.limitBytes < 1) ||
    (sinceSeconds !== undefined && (sinceSeconds < 1 || sinceTime !== undefined));
  if (invalid) throw new LogRequestError(422, '{"message": "Invalid request."}');
  return { ...rest, sinceMs: sinceSeconds !== undefined ? now - sinceSeconds * 1000 : sinceTime };
}

async function serveContainerLogs(opts: LogServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://kubelet');
  const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (segs[0] !== 'containerLogs' || segs.length > 4) throw new LogRequestError(404, '404 page not found');
  if (req.method !== 'GET') throw new LogRequestError(405, 'Method Not Allowed');
  const [, namespace, name, container] = segs;
  if (!namespace) throw new LogRequestError(400, '{"message": "Missing podNamespace."}');
  if (!name) throw new LogRequestError(400, '{"message": "Missing podID."}');
  if (!container) throw new LogRequestError(400, '{"message": "Missing container name."}');
  const logOpts = podLogOptions(url.searchParams);
  const worker = opts.pod(namespace, name);
  if (!worker) throw new LogRequestError(404, `pod "${name}" does not exist`);
  const spec = worker.pod.spec;
  if (![...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].some((c) => c.name === container))
    throw new LogRequestError(404, `container "${container}" not found in pod "${name}"`);
  const status = worker.currentStatus(Date.now());
  const containerStatus = [...(status.initContainerStatuses ?? []), ...status.containerStatuses].find((s) => s.name === container);
  const run = chooseRun(name, container, containerStatus, logOpts.previous);
  const file = await runLogFile(path.join(worker.podDir, 'logs', container), containerStatus!, run);
  if (!file) {
    // The run's log is gone (the Pod's directory went with its deletion): nothing to show.
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end();
    return;
  }
  await streamLog(res, file, { ...logOpts, follow: logOpts.follow && run === 'current' });
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

const closeAll = (servers: Server[]): Promise<void> =>
  Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  ).then(() => undefined);

/** Listens on every address at one port; with port 0 it tries a few free ones until all addresses have it. */
export async function startLogServer(opts: LogServerOptions): Promise<LogServer> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    serveContainerLogs(opts, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      const code = err instanceof LogRequestError ? err.code : 500;
      if (code === 500) opts.log(`${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end((err as Error).message);
    });
  };
  for (let attempt = 1; ; attempt++) {
    const servers: Server[] = [];
    try {
      let port = opts.port;
      for (const address of opts.addresses) {
        const server = createServer({ keepAlive: true }, handler);
        servers.push(server);
        port = await listen(server, port, address);
      }
      return { port, close: () => closeAll(servers) };
    } catch (err) {
      await closeAll(servers);
      if (opts.port !== 0 || attempt >= 5 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}
