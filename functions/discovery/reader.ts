// The read behind the answer cache: the RedisCluster a query names (from the Kubernetes API), then
// one node's CLUSTER NODES, asked node after node within a time budget; the decisions it applies
// are lookup.ts's. I/O only.
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { GROUP, PLURAL, VERSION } from '../../shared/api/names.js';
import { isNotFound, Kube } from '../../shared/kube/client.js';
import { podEndpoints, readPassword, type PodEndpoint } from '../../shared/kube/nodes.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { EndpointProtocols, portSpeaksTls } from '../../shared/tls/layout.js';
import { clientTls, readTlsSecret } from '../../shared/tls/secret.js';
import type { Endpoint, NodeReport } from '../../shared/redis/types.js';
import { errorMessage } from '../../shared/errors.js';
import { firstAnswer } from './hedge.js';
import {
  askOrder,
  basePortOf,
  isRolling,
  endpointText,
  passwordRefOf,
  tlsSecretOf,
  pickCluster,
  snapshotOf,
  statusNodesOf,
  type ClusterObject,
  type Resolution,
} from './lookup.js';
import type { ClusterQuery } from './query.js';
import type { ClusterSnapshot } from './view.js';

export interface ReaderOptions {
  /** The API client, or a factory called on first use (so a start without a kubeconfig still serves /healthz). */
  kube?: Kube | (() => Kube);
  /** TCP connect timeout per node. Default 500 ms. */
  connectTimeoutMs?: number;
  /** Timeout of the CLUSTER NODES read. Default 2000 ms. */
  commandTimeoutMs?: number;
  /** Time spent trying nodes before answering from the status. Default 3000 ms. */
  liveBudgetMs?: number;
  /** How long one node may stay silent before the next is asked beside it. Default 150 ms. */
  hedgeMs?: number;
}

const MAX_POOLS = 100;

/** One Redis pool per cluster, since each has its own password and CA; the oldest is closed past MAX_POOLS. */
class ClusterPools {
  private readonly pools = new Map<string, { password: string | undefined; ca: string | undefined; pool: RedisPool }>();

  constructor(private readonly timeouts: { connectTimeoutMs: number; commandTimeoutMs: number }) {}

  poolFor(key: string, password: string | undefined, ca: string | undefined): RedisPool {
    const current = this.pools.get(key);
    if (current && current.password === password && current.ca === ca) return current.pool;
    if (current) void current.pool.close();
    this.pools.delete(key);
    if (this.pools.size >= MAX_POOLS) {
      const [oldest] = this.pools.keys();
      if (oldest !== undefined) {
        void this.pools.get(oldest)?.pool.close();
        this.pools.delete(oldest);
      }
    }
    const { connectTimeoutMs, commandTimeoutMs } = this.timeouts;
    const pool = new RedisPool({
      ...(password !== undefined ? { password } : {}),
      ...(ca !== undefined ? { tls: clientTls(ca) } : {}),
      connectTimeoutMs,
      commandTimeoutMs,
    });
    this.pools.set(key, { password, ca, pool });
    return pool;
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.pool.close()));
  }
}

/** One read of one cluster under way: where it asks, until when, and what it has heard so far. */
interface ReadState {
  key: string;
  pool: RedisPool;
  deadline: number;
  asked: Set<string>;
  unreachable: ClusterSnapshot['unreachable'];
  /** Why the password could not be read: named beside each node that did not answer. */
  passwordProblem: string | undefined;
}

export class ClusterReader {
  private readonly kubeOption: ReaderOptions['kube'];
  private kubeClient: Kube | undefined;
  private readonly liveBudgetMs: number;
  private readonly hedgeMs: number;
  private readonly pools: ClusterPools;
  private readonly timeouts: { connectTimeoutMs: number; commandTimeoutMs: number };
  // The node that answered last, per cluster: asked first next time.
  private readonly lastObserver = new Map<string, string>();
  /** Clusters a read found mid-transition: their Pods are read until none is left in a dual layout. */
  private readonly transitions = new Set<string>();
  private log: Logger | undefined;
  private reads: Counter<'source'> | undefined;

  constructor(opts: ReaderOptions) {
    this.kubeOption = opts.kube;
    this.kubeClient = opts.kube instanceof Kube ? opts.kube : undefined;
    this.liveBudgetMs = opts.liveBudgetMs ?? 3000;
    this.hedgeMs = opts.hedgeMs ?? 150;
    this.timeouts = { connectTimeoutMs: opts.connectTimeoutMs ?? 500, commandTimeoutMs: opts.commandTimeoutMs ?? 2000 };
    this.pools = new ClusterPools(this.timeouts);
  }

  /** Where reads are logged and counted, once the function's host gives a logger and a registry. */
  instrument(log: Logger, reads: Counter<'source'>): void {
    this.log = log;
    this.reads = reads;
  }

  async load(query: ClusterQuery): Promise<Resolution> {
    const picked = pickCluster(query, await this.findClusters(query));
    if (picked.kind !== 'found') return picked;
    return { kind: 'found', snapshot: await this.read(picked.cluster, picked.namespace, query.clusterName) };
  }

  close(): Promise<void> {
    return this.pools.close();
  }

  private kube(): Kube {
    const given = this.kubeOption;
    return (this.kubeClient ??= typeof given === 'function' ? given() : new Kube());
  }

  private async findClusters(query: ClusterQuery): Promise<ClusterObject[]> {
    const k = this.kube();
    if (query.namespace) {
      const one = await k.getCluster<ClusterObject>({ namespace: query.namespace, name: query.clusterName });
      return one ? [one] : [];
    }
    try {
      const list = (await k.custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: PLURAL,
        fieldSelector: `metadata.name=${query.clusterName}`,
      })) as { items?: ClusterObject[] };
      // The selector narrows the list; the name is checked again in case a server ignores it.
      return (list.items ?? []).filter((c) => c.metadata?.name === query.clusterName);
    } catch (err) {
      // 404 on the list: the RedisCluster resource itself is not installed.
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** The password and the CA the nodes are reached with; what could not be read, as a problem. */
  private async passwordOf(cluster: ClusterObject, namespace: string): Promise<{ password?: string; ca?: string; problem?: string }> {
    const ref = passwordRefOf(cluster);
    const tlsSecret = tlsSecretOf(cluster);
    try {
      const password = ref ? await readPassword(this.kube(), namespace, ref) : undefined;
      const ca = tlsSecret ? (await readTlsSecret(this.kube(), namespace, tlsSecret))?.['ca.crt'] : undefined;
      if (tlsSecret && !ca) return { problem: `TLS Secret ${tlsSecret} not found or has no ca.crt` };
      return { ...(password !== undefined ? { password } : {}), ...(ca ? { ca } : {}) };
    } catch (err) {
      return { problem: errorMessage(err) };
    }
  }

  private async read(cluster: ClusterObject, namespace: string, name: string): Promise<ClusterSnapshot> {
    const key = `${namespace}/${name}`;
    const statusNodes = statusNodesOf(cluster);
    const secret = await this.passwordOf(cluster, namespace);
    // Terminating Pods too: their nodes still run, and peers still name them, until they stop.
    const pods = (): Promise<PodEndpoint[]> =>
      podEndpoints(this.kube(), namespace, name, basePortOf(cluster), { terminating: true }).catch((err: unknown) => {
        this.log?.warn({ cluster: key, err: errorMessage(err) }, "cannot list the cluster's Pods");
        return [];
      });
    // A TLS transition is a rolling update: only then can a Pod's port speak the other protocol. The
    // last Pod's old node may outlive the RollingUpdate condition (its preStop hook runs on).
    const transition =
      isRolling(cluster) || this.transitions.has(key)
        ? await this.transitionPool(key, await pods(), cluster, namespace, secret.password)
        : undefined;
    const state: ReadState = {
      key,
      pool: transition ?? this.pools.poolFor(key, secret.password, secret.ca),
      deadline: Date.now() + this.liveBudgetMs,
      asked: new Set(),
      unreachable: [],
      passwordProblem: secret.problem,
    };
    let report: NodeReport | undefined;
    try {
      report = await this.ask(
        state,
        statusNodes.map((n) => ({ ip: n.ip, port: n.port })),
      );
      // The status may be stale or empty (Pods recreated at new addresses, cluster still forming).
      if (!report && Date.now() <= state.deadline)
        report = await this.ask(
          state,
          (await pods()).filter((p) => !p.terminating),
        );
    } finally {
      if (transition) void transition.close();
    }

    const { unreachable } = state;
    this.reads?.inc({ source: report ? 'live' : 'status' });
    if (!report && (statusNodes.length > 0 || unreachable.length > 0)) {
      this.log?.warn({ cluster: key, unreachable }, 'no node of the cluster answered: answering from its status');
    }
    return snapshotOf(cluster, namespace, name, { report, statusNodes, unreachable }, new Date().toISOString());
  }

  /**
   * While TLS is turned on or off (docs/security.md) a node's port may speak the other protocol
   * than the spec says: a pool, for this read, that asks each node in the protocol its Pod's layout
   * gives, with the CA of the spec's Secret or, while TLS is being removed, the one the Pods mount.
   */
  private async transitionPool(
    key: string,
    pods: readonly PodEndpoint[],
    cluster: ClusterObject,
    namespace: string,
    password: string | undefined,
  ): Promise<RedisPool | undefined> {
    const specTls = tlsSecretOf(cluster) !== undefined;
    if (pods.every((p) => p.layout === (specTls ? 'tls' : 'plain'))) {
      this.transitions.delete(key);
      return undefined;
    }
    this.transitions.add(key);
    const secretName = tlsSecretOf(cluster) ?? pods.find((p) => p.tlsSecret)?.tlsSecret;
    const ca = secretName
      ? await readTlsSecret(this.kube(), namespace, secretName).then(
          (d) => d?.['ca.crt'],
          () => undefined,
        )
      : undefined;
    if (!ca && pods.some((p) => portSpeaksTls(p.layout))) {
      this.log?.warn({ cluster: key, secret: secretName }, 'TLS transition: no CA to reach the nodes serving TLS');
    }
    const protocols = new EndpointProtocols(specTls);
    protocols.learn(pods);
    return new RedisPool({
      ...(password !== undefined ? { password } : {}),
      ...(ca ? { tls: clientTls(ca) } : {}),
      speaksTls: protocols.speaksTls,
      canonical: protocols.canonical,
      ...this.timeouts,
    });
  }

  /** The first report of the candidates not asked yet in this read; those that did not answer are noted. */
  private async ask(state: ReadState, candidates: Endpoint[]): Promise<NodeReport | undefined> {
    const ordered = askOrder(candidates, state.asked, this.lastObserver.get(state.key));
    for (const e of ordered) state.asked.add(endpointText(e));
    const { answer, failures } = await firstAnswer(ordered, (endpoint) => state.pool.readReport(endpoint), {
      hedgeMs: this.hedgeMs,
      deadline: state.deadline,
    });
    const problem = state.passwordProblem;
    for (const f of failures) state.unreachable.push({ ...f.candidate, error: problem ? `${f.error}; ${problem}` : f.error });
    if (answer) this.lastObserver.set(state.key, endpointText(answer.candidate));
    return answer?.value;
  }
}
