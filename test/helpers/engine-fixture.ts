// A formed Redis Cluster for the engine's integration tests: start the nodes, create the cluster,
// load keys, and stop everything when the test ends (passed or failed).
import { onTestFinished } from 'vitest';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import type { CreatePlan, DesiredNode, Endpoint } from '../../shared/redis/types.js';
import { evenCreatePlan, loadKeys, startRedisNodes, type Harness } from './redis-harness.js';

export interface FormClusterOptions {
  /** redis-server processes to start. */
  nodes: number;
  /** Masters of the even layout (ignored when `plan` is given). */
  masters: number;
  /** Replicas per master of the even layout; default 0. */
  replicas?: number;
  /** How many of the nodes (the first ones) form the cluster; the rest stay fresh. Default all. */
  members?: number;
  /** requirepass and masterauth of every node, and the pool's password. */
  password?: string;
  /** More redis-server arguments (e.g. `--user` definitions). */
  args?: string[];
  /** The pool's login when not `default` with `password`. */
  login?: { username: string; password: string };
  /** Extra redis.conf directives; `cluster-node-timeout` defaults to 2000 so failures are seen fast. */
  config?: Record<string, string>;
  /** Keys to load through a cluster client once formed; default none. */
  keys?: number;
  valueBytes?: number;
  /** A layout other than the even one, built from the member nodes. */
  plan?: (members: DesiredNode[]) => CreatePlan;
}

export interface FormedCluster {
  harness: Harness;
  pool: RedisPool;
  /** Every started node, members and fresh ones. */
  desired: DesiredNode[];
  endpoints: Endpoint[];
  /** Node id per started node (index = node), fresh ones included. */
  ids: string[];
}

/** Starts the nodes, forms the cluster and loads the keys; everything stops when the test finishes. */
export async function formCluster(opts: FormClusterOptions): Promise<FormedCluster> {
  const membersCount = opts.members ?? opts.nodes;
  if (membersCount > opts.nodes) throw new Error(`members: ${membersCount} exceeds nodes: ${opts.nodes}`);
  const auth = opts.password ? { password: opts.password } : {};
  const harness = await startRedisNodes(opts.nodes, {
    config: { 'cluster-node-timeout': '2000', ...opts.config },
    ...auth,
    ...(opts.args ? { args: opts.args } : {}),
  });
  const pool = new RedisPool(opts.login ?? auth);
  onTestFinished(async () => {
    await pool.close();
    await harness.stop();
  });
  const desired = harness.desiredNodes();
  const members = desired.slice(0, membersCount);
  const plan = opts.plan ? opts.plan(members) : evenCreatePlan(members, opts.masters, opts.replicas ?? 0);
  const created = await ensureCreated(pool, members, plan);
  if (!created.done) throw new Error(`the cluster did not form: ${created.problems.map((p) => p.message).join('; ')}`);
  if (opts.keys) {
    const cluster = harness.cluster();
    try {
      await loadKeys(cluster, opts.keys, opts.valueBytes ?? 40);
    } finally {
      cluster.disconnect();
    }
  }
  const ids = await Promise.all(harness.endpoints.map(async (e) => (await pool.readReport(e)).myId));
  return { harness, pool, desired, endpoints: harness.endpoints, ids };
}
