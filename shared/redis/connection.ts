// The one way the engine talks to Redis: a small pool of standalone ioredis connections per
// endpoint, so the password, timeouts and logging live in one place.
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { endpointKey } from './endpoint.js';
import { parseClusterNodes, parseInfo } from './topology.js';
import type { Endpoint, NodeReport } from './types.js';
import type { Credentials } from './users.js';

export interface EngineLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PoolOptions {
  password?: string;
  /** The ACL user `password` belongs to; without it, `default`. */
  username?: string;
  /**
   * Tried on a node that refuses `username`: a node started before that user existed (an
   * operator upgrade rolls it). Which one a node took is remembered for its MIGRATE AUTH too.
   */
  fallback?: Credentials;
  /** TLS to the nodes (clientTls: the CA they are checked against); plaintext without it. */
  tls?: ConnectionOptions;
  /**
   * Which nodes speak TLS on their port, when not all do (while TLS is turned on or off); asked
   * at each new connection. Without it, every node does when `tls` is set.
   */
  speaksTls?: (endpoint: Endpoint) => boolean;
  /**
   * The address a node is known by, for one a CLUSTER NODES line names otherwise: while TLS is
   * turned on or off, a node answering over TLS names its peers by their TLS ports.
   */
  canonical?: (endpoint: Endpoint) => Endpoint;
  /** TCP connect timeout per attempt. */
  connectTimeoutMs?: number;
  /** Timeout of control commands (CLUSTER NODES, SETSLOT, INFO...). */
  commandTimeoutMs?: number;
  /** Timeout of bulk commands (MIGRATE pipelines); must exceed the MIGRATE idle timeout. */
  bulkCommandTimeoutMs?: number;
  logger?: EngineLogger;
}

/**
 * `control` carries short commands; `bulk` carries MIGRATE pipelines so a slow transfer never
 * delays a topology read that only needs a timeout.
 */
export type Lane = 'control' | 'bulk';

const silent: EngineLogger = { debug() {}, info() {}, warn() {} };

/** True for errors that mean "the node is not reachable" rather than "the node said no". */
export function isConnectionError(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Connection is closed|Stream isn't writeable|Command timed out|connect ETIMEDOUT|Reached the max retries|socket|LOADING/i.test(
    msg,
  );
}

/** A login the node refused (WRONGPASS): not a connection problem, and no retry changes it. */
export class AuthRefusedError extends Error {
  constructor(endpoint: Endpoint, username: string, reason: string) {
    super(`${endpointKey(endpoint)} refused the login as ${username}: ${reason}`);
    this.name = 'AuthRefusedError';
  }
}

export class RedisPool {
  readonly password: string | undefined;
  readonly username: string | undefined;
  readonly log: EngineLogger;
  private readonly fallback: Credentials | undefined;
  private readonly tls: ConnectionOptions | undefined;
  private readonly speaksTls: (endpoint: Endpoint) => boolean;
  private readonly canonical: ((endpoint: Endpoint) => Endpoint) | undefined;
  private readonly opts: Required<Omit<PoolOptions, 'password' | 'username' | 'fallback' | 'logger' | 'tls' | 'speaksTls' | 'canonical'>>;
  private readonly conns = new Map<string, Redis>();
  private readonly known = new Map<string, Endpoint>();
  /** Endpoints that refused `username` and took `fallback`. */
  private readonly onFallback = new Set<string>();
  private closed = false;

  constructor(opts: PoolOptions = {}) {
    this.password = opts.password;
    this.username = opts.username;
    this.fallback = opts.fallback;
    this.tls = opts.tls;
    this.speaksTls = opts.speaksTls ?? (() => true);
    this.canonical = opts.canonical;
    this.log = opts.logger ?? silent;
    this.opts = {
      connectTimeoutMs: opts.connectTimeoutMs ?? 2000,
      commandTimeoutMs: opts.commandTimeoutMs ?? 5000,
      bulkCommandTimeoutMs: opts.bulkCommandTimeoutMs ?? 60_000,
    };
  }

  /** Every endpoint this pool has been asked about, for re-resolving nodes after a failover. */
  endpoints(): Endpoint[] {
    return [...this.known.values()];
  }

  /** The login that works on the endpoint, as far as this pool knows. */
  credentialsFor(endpoint: Endpoint): Credentials | undefined {
    if (this.fallback && this.onFallback.has(endpointKey(endpoint))) return this.fallback;
    if (this.password === undefined) return undefined;
    return { password: this.password, ...(this.username ? { username: this.username } : {}) };
  }

  /** A connected client for the endpoint; throws a connection error when it cannot connect. */
  async client(endpoint: Endpoint, lane: Lane = 'control'): Promise<Redis> {
    try {
      return await this.connected(endpoint, lane);
    } catch (err) {
      if (!(err instanceof AuthRefusedError) || !this.fallback || this.onFallback.has(endpointKey(endpoint))) throw err;
      this.log.info({ endpoint: endpointKey(endpoint), user: this.username }, 'login refused: trying the fallback login');
      this.onFallback.add(endpointKey(endpoint));
      return this.connected(endpoint, lane);
    }
  }

  private async connected(endpoint: Endpoint, lane: Lane): Promise<Redis> {
    if (this.closed) throw new Error('connection pool is closed');
    const key = `${lane}|${endpointKey(endpoint)}`;
    this.known.set(endpointKey(endpoint), { ip: endpoint.ip, port: endpoint.port });
    let conn = this.conns.get(key);
    if (conn && (conn.status === 'end' || conn.status === 'close')) {
      conn.disconnect();
      this.conns.delete(key);
      conn = undefined;
    }
    let refused: string | undefined;
    if (!conn) {
      const login = this.credentialsFor(endpoint);
      conn = new Redis({
        host: endpoint.ip,
        port: endpoint.port,
        ...(login?.username ? { username: login.username } : {}),
        password: login?.password,
        ...(this.tls && this.speaksTls(endpoint) ? { tls: this.tls } : {}),
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: false,
        connectTimeout: this.opts.connectTimeoutMs,
        commandTimeout: lane === 'bulk' ? this.opts.bulkCommandTimeoutMs : this.opts.commandTimeoutMs,
        maxRetriesPerRequest: 1,
        // A node that stays down is re-dialled by the next client() call instead of in the background.
        retryStrategy: (times) => (times > 2 ? null : 50 * times),
      });
      conn.on('error', (err: Error) => {
        if (/^(WRONGPASS|NOAUTH)/.test(err.message)) refused = err.message;
        this.log.debug({ endpoint: endpointKey(endpoint), err: err.message }, 'redis connection error');
      });
      this.conns.set(key, conn);
    }
    if (conn.status === 'wait') {
      try {
        await conn.connect();
      } catch (err) {
        this.conns.delete(key);
        conn.disconnect();
        // ioredis reports a refused AUTH as a closed connection; its error event said why.
        if (refused) throw new AuthRefusedError(endpoint, this.credentialsFor(endpoint)?.username ?? 'default', refused);
        throw err;
      }
    } else if (conn.status !== 'ready') {
      await waitReady(conn, this.opts.connectTimeoutMs);
    }
    return conn;
  }

  /** Runs one command; replies come back raw (strings, arrays, numbers). */
  async call(endpoint: Endpoint, command: string, ...args: (string | number | Buffer)[]): Promise<unknown> {
    const c = await this.client(endpoint);
    return c.call(command, ...args);
  }

  /**
   * Runs the commands as one pipeline (one round trip) and returns per-command results; an error
   * reply becomes an Error value in its position instead of rejecting the whole batch. With
   * `buffers`, bulk replies come back as Buffers.
   */
  async pipeline(
    endpoint: Endpoint,
    commands: (string | number | Buffer)[][],
    lane: Lane = 'control',
    opts: { buffers?: boolean } = {},
  ): Promise<(unknown | Error)[]> {
    if (commands.length === 0) return [];
    const c = await this.client(endpoint, lane);
    const p = c.pipeline();
    // Buffers skip decoding and re-encoding key names that only pass through (GETKEYSINSLOT -> MIGRATE).
    if (opts.buffers) for (const [cmd, ...args] of commands) p.callBuffer(String(cmd), ...args);
    else for (const [cmd, ...args] of commands) p.call(String(cmd), ...args);
    const res = await p.exec();
    if (!res) throw new Error(`pipeline to ${endpointKey(endpoint)} returned nothing`);
    return res.map(([err, value]) => (err ? err : value));
  }

  /** Reads what one node says about the cluster (CLUSTER NODES, CLUSTER INFO, INFO replication, DBSIZE). */
  async readReport(endpoint: Endpoint): Promise<NodeReport> {
    const [nodesText, infoText, replText, keys] = await this.pipeline(endpoint, [
      ['CLUSTER', 'NODES'],
      ['CLUSTER', 'INFO'],
      ['INFO', 'replication'],
      ['DBSIZE'],
    ]);
    for (const r of [nodesText, infoText, replText, keys]) if (r instanceof Error) throw r;
    const canonical = this.canonical;
    const nodes = parseClusterNodes(String(nodesText)).map((n) => (canonical ? { ...n, ...canonical({ ip: n.ip, port: n.port }) } : n));
    const me = nodes.find((n) => n.flags.includes('myself'));
    if (!me) throw new Error(`${endpointKey(endpoint)}: CLUSTER NODES has no myself line`);
    const clusterInfo = parseInfo(String(infoText));
    return {
      address: { ip: endpoint.ip, port: endpoint.port },
      myId: me.id,
      nodes,
      clusterState: clusterInfo['cluster_state'] === 'ok' ? 'ok' : 'fail',
      clusterInfo,
      replication: parseInfo(String(replText)),
      keys: Number(keys),
    };
  }

  /** Reads every endpoint in parallel; unreachable nodes are listed, not thrown. */
  async readAll(endpoints: Endpoint[]): Promise<{ reports: NodeReport[]; unreachable: { endpoint: Endpoint; error: string }[] }> {
    const results = await Promise.allSettled(endpoints.map((e) => this.readReport(e)));
    const reports: NodeReport[] = [];
    const unreachable: { endpoint: Endpoint; error: string }[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') reports.push(r.value);
      else unreachable.push({ endpoint: endpoints[i]!, error: r.reason instanceof Error ? r.reason.message : String(r.reason) });
    });
    return { reports, unreachable };
  }

  /** Drops the connections of one endpoint (e.g. after the node restarted elsewhere). */
  forget(endpoint: Endpoint): void {
    for (const lane of ['control', 'bulk'] as const) {
      const key = `${lane}|${endpointKey(endpoint)}`;
      this.conns.get(key)?.disconnect();
      this.conns.delete(key);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

function waitReady(conn: Redis, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (conn.status === 'ready') return resolve();
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Connection is closed: not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => {
      cleanup();
      reject(new Error('Connection is closed'));
    };
    const cleanup = () => {
      clearTimeout(timer);
      conn.off('ready', onReady);
      conn.off('end', onEnd);
    };
    conn.on('ready', onReady);
    conn.on('end', onEnd);
  });
}
