// One benchmark cluster: real redis-server processes, formed by the engine, loaded with the data,
// replicas caught up, torn down after each run.
import { spawn } from 'node:child_process';
import { ownersFromView } from '../../shared/redis/check.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { ensureCreated } from '../../shared/redis/executor/create.js';
import type { MigrateOptions, MigrateResult } from '../../shared/redis/executor/migrate/context.js';
import { migrateSlots } from '../../shared/redis/executor/migrate/run.js';
import { waitFor } from '../../shared/redis/executor/util.js';
import { nodeEndpoint, readView } from '../../shared/redis/view.js';
import { planScaleIn, planScaleOut } from '../../shared/redis/planner/reshard.js';
import type { Endpoint } from '../../shared/redis/types.js';
import { clientTls } from '../../shared/tls/secret.js';
import { evenCreatePlan, startRedisNodes, type Harness, type HarnessOptions } from '../../test/helpers/redis-harness.js';
import { loadData, verifyData, type Access } from './data.js';

export interface Scenario {
  name: string;
  /** Masters that own slots at the start. */
  masters: number;
  /** The first `replicas` masters get one replica each. */
  replicas: number;
  /** Empty masters joined before a scale-out. */
  empty: number;
  /** The first `emptyReplicas` empty masters get one replica each (the shape the operator builds). */
  emptyReplicas?: number;
  /** The last `drain` masters are drained (scale-in). */
  drain: number;
}

export const SCENARIOS: Scenario[] = [
  { name: '3->4', masters: 3, replicas: 3, empty: 1, drain: 0 },
  { name: '3->6', masters: 3, replicas: 3, empty: 3, drain: 0 },
  { name: '4->3', masters: 4, replicas: 3, empty: 0, drain: 1 },
];

/** 3 -> 6 as the operator runs it: every master, new ones included, has a replica. */
export const SCALE_OUT_WITH_REPLICAS: Scenario = {
  name: '3->6 (new masters with replicas)',
  masters: 3,
  replicas: 3,
  empty: 3,
  emptyReplicas: 3,
  drain: 0,
};

export interface BuiltCluster {
  harness: Harness;
  pool: RedisPool;
  ids: string[];
  emptyIds: string[];
  drainIds: string[];
  seed: Endpoint;
  /** How clients reach the nodes (TLS with the harness's CA, or plaintext). */
  access: Access;
  /** The CA file a TLS cluster's nodes are checked against; undefined for plaintext. */
  caFile?: string;
  close(): Promise<void>;
}

export async function buildCluster(sc: Scenario, keys: number, valueBytes: number, opts: HarnessOptions = {}): Promise<BuiltCluster> {
  const total = sc.masters + sc.replicas + sc.empty + (sc.emptyReplicas ?? 0);
  const harness = await startRedisNodes(total, opts);
  const access: Access = opts.tls ? { tls: clientTls(opts.tls.ca) } : {};
  const pool = new RedisPool(access);
  const close = async () => {
    await pool.close();
    await harness.stop();
  };
  try {
    const desired = harness.desiredNodes();
    const plan = evenCreatePlan(desired.slice(0, sc.masters + sc.replicas), sc.masters, 1);
    const empty = desired.slice(sc.masters + sc.replicas, sc.masters + sc.replicas + sc.empty);
    for (const d of empty) plan.masters.push({ node: d.name, slots: [] });
    desired.slice(sc.masters + sc.replicas + sc.empty).forEach((d, i) => plan.replicas.push({ node: d.name, masterNode: empty[i]!.name }));
    const created = await ensureCreated(pool, desired, plan);
    if (!created.done) throw new Error(`cluster not formed: ${created.problems.map((p) => p.message).join('; ')}`);
    const ids = await Promise.all(harness.endpoints.map(async (e) => (await pool.readReport(e)).myId));
    const map = await readView(pool, harness.endpoints, { discover: true });
    await loadData(
      map.owners.map((id) => nodeEndpoint(map, id!)),
      keys,
      valueBytes,
      access,
    );
    // Start from a quiet cluster: every replica has its master's whole stream.
    await waitFor('replicas to catch up', 120_000, async () => {
      const { reports } = await pool.readAll(harness.endpoints);
      for (const r of reports) {
        if (r.replication['role'] !== 'slave') continue;
        const master = reports.find((m) => m.myId === r.nodes.find((n) => n.id === r.myId)?.masterId);
        if (!master || r.replication['slave_repl_offset'] !== master.replication['master_repl_offset']) return undefined;
      }
      return true;
    });
    return {
      harness,
      pool,
      ids,
      emptyIds: ids.slice(sc.masters + sc.replicas, sc.masters + sc.replicas + sc.empty),
      drainIds: ids.slice(sc.masters - sc.drain, sc.masters),
      seed: harness.endpoints[0]!,
      access,
      ...(opts.tls ? { caFile: opts.tls.caFile } : {}),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Runs the engine: plan from the live slot map, then migrate. */
export async function runEngine(sc: Scenario, c: BuiltCluster, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const owners = ownersFromView((await c.pool.readReport(c.seed)).nodes);
  const plan = sc.drain ? planScaleIn(owners, c.drainIds) : planScaleOut(owners, c.emptyIds);
  const result = await migrateSlots(c.pool, plan.waves, { ...opts, endpoints: c.harness.endpoints });
  if (!result.done) throw new Error(`engine did not finish: ${result.errors.join('; ')}`);
  return result;
}

/** Runs `redis-cli --cluster rebalance` the way operators use it for the same change. */
export function runRedisCli(sc: Scenario, c: BuiltCluster, pipeline?: number): Promise<void> {
  const args = ['--cluster', 'rebalance', `${c.seed.ip}:${c.seed.port}`, '--cluster-use-empty-masters'];
  if (c.caFile) args.unshift('--tls', '--cacert', c.caFile);
  if (pipeline) args.push('--cluster-pipeline', String(pipeline));
  for (const id of c.drainIds) args.push('--cluster-weight', `${id}=0`);
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 && !/\[ERR\]/.test(out) ? resolve() : reject(new Error(`redis-cli exited ${code}: ${out.slice(-800)}`)),
    );
  });
}

/** Keys lost (missing or wrong value) and the key total over masters, after convergence. */
export async function checkData(c: BuiltCluster, keys: number, valueBytes: number): Promise<{ lost: number; masterKeys: number }> {
  const map = await waitFor('views to agree on the slot map', 30_000, async () => {
    const m = await readView(c.pool, c.harness.endpoints, { discover: true });
    const views = new Set(m.reports.map((r) => JSON.stringify([...ownersFromView(r.nodes).entries()].filter(([, v]) => v.length).sort())));
    return views.size === 1 && m.owners.every((o) => o !== undefined) ? m : undefined;
  });
  const { lost } = await verifyData(
    map.owners.map((id) => nodeEndpoint(map, id!)),
    keys,
    valueBytes,
    c.access,
  );
  const masterKeys = map.reports.filter((r) => r.replication['role'] === 'master').reduce((n, r) => n + r.keys, 0);
  return { lost, masterKeys };
}
