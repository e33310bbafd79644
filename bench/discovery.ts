// Discovery under load: 50 concurrent keep-alive clients asking GET /cluster/nodes of a real 3x1
// cluster, against the discovery function running as its own process (as in its container), with
// the embedded API server holding the RedisCluster. Reports requests/s, latency percentiles and
// how many Redis commands the load cost (INFO commandstats before and after).
//
//   npm run bench:discovery                       # 10 s per scenario
//   BENCH_SECONDS=5 BENCH_CLIENTS=50 npm run bench:discovery
//   npm run bench:discovery -- --baseline HEAD~1 [--rounds 3]
//
// With --baseline, the same load also runs against that commit's discovery (checked out in a
// temporary git worktree), in alternating rounds (ABBA...) so a machine that gets busier or quieter
// during the run weighs on both alike; medians per build and their ratio are printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { parse } from 'yaml';
import { kubeConfigYaml } from '../local/apiserver/kubeconfig.js';
import { startApiServer, kubeConfigFor } from '../local/apiserver/index.js';
import { Kube } from '../shared/kube/client.js';
import { argValue, positiveIntArg } from './lib/args.js';
import { checkoutBaseline, type BaselineTree } from './lib/baseline.js';
import { load } from './lib/load.js';
import { median, percentile } from './lib/stats.js';
import { RedisPool } from '../shared/redis/connection.js';
import { ensureCreated } from '../shared/redis/executor/create.js';
import { formatRange } from '../shared/redis/topology.js';
import { evenCreatePlan, startRedisNodes, type Harness } from '../test/helpers/redis-harness.js';
import { freePort } from '../test/helpers/ports.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const WARMUP_MS = 1000;
const BASELINE = argValue('baseline');
const ROUNDS = positiveIntArg('rounds', BASELINE ? 3 : 1);
const REPO_ROOT = path.join(import.meta.dirname, '..');

interface Scenario {
  name: string;
  ttlMs: number;
}
const SCENARIOS: Scenario[] = [
  { name: 'cache TTL 1000 ms', ttlMs: 1000 },
  { name: 'no cache (TTL 0, single-flight only)', ttlMs: 0 },
];

/** Calls per command over every node, from INFO commandstats. */
async function commandStats(h: Harness): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of h.nodes) {
    // No ready check: it would send an INFO of its own.
    const c = new Redis({ host: n.ip, port: n.port, lazyConnect: true, enableReadyCheck: false });
    await c.connect();
    const info = await c.info('commandstats');
    c.disconnect();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

// Replication's own traffic (REPLCONF ACK, the master's PING) and the measuring connection's HELLO.
const NOT_DISCOVERY = new Set(['replconf', 'ping', 'hello']);

/** Commands discovery sent between the two readings. */
function delta(before: Map<string, number>, after: Map<string, number>, nodes: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [cmd, calls] of after) {
    if (NOT_DISCOVERY.has(cmd)) continue;
    // The INFO of the "before" reading itself is counted once per node.
    const d = calls - (before.get(cmd) ?? 0) - (cmd === 'info' ? nodes : 0);
    if (d > 0) out.set(cmd, d);
  }
  return out;
}

async function waitHealthy(url: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // starting
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Build {
  label: string;
  root: string;
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  failed: number;
  commands: number;
  breakdown: string;
  requests: number;
}

type Started = { url: string; child: ChildProcess };

async function startDiscovery(build: Build, scenario: Scenario, kubeconfig: string, children: ChildProcess[]): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(build.root, 'functions/discovery/index.ts')], {
    cwd: build.root,
    env: { ...process.env, PORT: String(port), KUBECONFIG: kubeconfig, LOG_LEVEL: 'warn', DISCOVERY_CACHE_TTL_MS: String(scenario.ttlMs) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitHealthy(base);
  const url = `${base}/cluster/nodes?clusterName=bench&namespace=cache`;
  const check = (await (await fetch(url)).json()) as unknown[];
  if (check.length !== 6) throw new Error(`${build.label}: expected 6 nodes, got ${JSON.stringify(check)}`);
  return { url, child };
}

async function measure(url: string, harness: Harness): Promise<Round> {
  await load(url, CLIENTS, WARMUP_MS, false);
  const before = await commandStats(harness);
  const r = await load(url, CLIENTS, SECONDS * 1000, true);
  const after = await commandStats(harness);
  const cost = delta(before, after, harness.nodes.length);
  const lat = r.latenciesMs;
  return {
    rps: r.requests / r.seconds,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
    failed: r.errors + r.non200,
    commands: [...cost.values()].reduce((a, b) => a + b, 0),
    breakdown: [...cost.entries()].map(([c, n]) => `${c} ${n}`).join(', '),
    requests: r.requests,
  };
}

/** Every build against the scenario, in alternating order round by round; the rounds of each build. */
async function compare(
  builds: Build[],
  scenario: Scenario,
  kubeconfig: string,
  harness: Harness,
  children: ChildProcess[],
): Promise<Round[][]> {
  const servers = [];
  for (const build of builds) servers.push(await startDiscovery(build, scenario, kubeconfig, children));
  const rounds: Round[][] = builds.map(() => []);
  console.log(`\n${scenario.name}`);
  for (let round = 0; round < ROUNDS; round++) {
    const order = builds.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const r = await measure(servers[i]!.url, harness);
      rounds[i]!.push(r);
      console.log(
        `  round ${round + 1} ${builds[i]!.label}: ${r.requests} requests = ${r.rps.toFixed(0)} req/s; failed ${r.failed}; ` +
          `latency ms p50 ${r.p50.toFixed(2)}, p99 ${r.p99.toFixed(2)}, max ${r.max.toFixed(2)}; ` +
          `redis commands ${r.commands} (${r.breakdown}) = ${((r.commands / r.requests) * 1000).toFixed(2)} per 1000 requests`,
      );
    }
  }
  for (const { child } of servers) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  return rounds;
}

function summaryRow(scenario: Scenario, build: Build, rounds: Round[]): string {
  const m = (f: (r: Round) => number) => median(rounds.map(f));
  const failed = rounds.reduce((n, r) => n + r.failed, 0);
  return `| ${scenario.name} | ${build.label} | ${CLIENTS} | ${m((r) => r.rps).toFixed(0)} | ${m((r) => r.p50).toFixed(1)} | ${m((r) => r.p99).toFixed(1)} | ${failed} | ${m((r) => r.commands).toFixed(0)} |`;
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'bench-discovery-'));
  const children: ChildProcess[] = [];
  const baseline: BaselineTree | undefined = BASELINE ? checkoutBaseline(REPO_ROOT, BASELINE) : undefined;
  const api = await startApiServer({ port: 0 });
  let harness: Harness | undefined;
  try {
    const kube = new Kube(kubeConfigFor(api.url));
    const crd = parse(readFileSync(path.join(REPO_ROOT, 'charts/redis-operator/crds/redisclusters.redis.redis.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    await kube.custom.createClusterCustomObject({
      group: 'apiextensions.k8s.io',
      version: 'v1',
      plural: 'customresourcedefinitions',
      body: crd,
    });

    harness = await startRedisNodes(6);
    const pool = new RedisPool();
    const desired = harness.desiredNodes();
    const formed = await ensureCreated(pool, desired, evenCreatePlan(desired, 3, 1));
    if (!formed.done) throw new Error(`cluster not formed: ${formed.problems.map((p) => p.message).join('; ')}`);
    const { reports } = await pool.readAll(harness.endpoints);
    await pool.close();
    const nodes = reports[0]!.nodes.map((n, i) => ({
      id: n.id,
      pod: `bench-${i}`,
      ip: n.ip,
      port: n.port,
      role: n.role,
      ...(n.masterId ? { masterId: n.masterId } : {}),
      ...(n.role === 'master' ? { slots: n.slots.map(formatRange) } : {}),
    }));
    await kube.custom.createNamespacedCustomObject({
      group: 'redis.redis',
      version: 'v1beta1',
      plural: 'redisclusters',
      namespace: 'cache',
      body: { apiVersion: 'redis.redis/v1beta1', kind: 'RedisCluster', metadata: { name: 'bench' }, spec: { maxMemory: '64mb' } },
    });
    await kube.patchClusterStatus({ namespace: 'cache', name: 'bench' }, { phase: 'Ready', nodes });
    const kubeconfig = path.join(work, 'kubeconfig');
    writeFileSync(kubeconfig, kubeConfigYaml(api.url));

    const builds: Build[] = [{ label: 'this tree', root: REPO_ROOT }];
    if (baseline) builds.push({ label: `baseline ${baseline.commit}`, root: baseline.root });
    console.log(
      `discovery benchmark: ${CLIENTS} keep-alive clients, ${SECONDS} s per round after ${WARMUP_MS} ms warm-up, ${ROUNDS} round(s) per build, 3x1 cluster (6 redis-server)`,
    );
    console.log(
      `machine: ${cpus().length} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    const rows: string[] = [];
    for (const scenario of SCENARIOS) {
      const rounds = await compare(builds, scenario, kubeconfig, harness, children);
      builds.forEach((build, i) => rows.push(summaryRow(scenario, build, rounds[i]!)));
      if (rounds.length === 2) {
        const [ours, theirs] = rounds as [Round[], Round[]];
        const ratio = (f: (r: Round) => number) => median(ours.map(f)) / median(theirs.map(f));
        rows.push(
          `| ${scenario.name} | ratio this / baseline | | ${ratio((r) => r.rps).toFixed(2)}x | ${ratio((r) => r.p50).toFixed(2)}x | ${ratio((r) => r.p99).toFixed(2)}x | | |`,
        );
      }
    }
    console.log(
      `\nmedians over the rounds; load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log('| scenario | build | clients | req/s | p50 ms | p99 ms | failed | Redis commands per round |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(row);
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await harness?.stop();
    await api.close();
    rmSync(work, { recursive: true, force: true });
    baseline?.remove();
  }
}

await main();
