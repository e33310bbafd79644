// Scaling end to end on the embedded platform: 3 -> 6 masters (one replica each) with N keys, from
// `kubectl scale` to the RedisCluster Ready again, beside the engine alone (the bench:reshard
// path: planner + executor, no platform) and `redis-cli --cluster rebalance` on the same data and
// shape, each under the same client load, and that client's latency before and during each.
//
//   npm run bench:e2e -- [--keys 1000000] [--value-bytes 64] [--runs 1] [--json]
import { hasFlag, positiveIntArg } from './lib/args.js';
import { median, percentile } from './lib/stats.js';
import { now, startProbe } from './lib/probe.js';
import { loadData, slotOwners, verifyData } from './lib/data.js';
import { SCALE_OUT_WITH_REPLICAS, buildCluster, checkData, runEngine, runRedisCli } from './lib/scenario.js';
import { applyCluster, eventually, startE2E, statusNodes, waitForReady, type E2E } from '../test/helpers/e2e.js';
import type { KubeObject } from '../local/apiserver/client.js';
import { redisConf } from '../functions/reconcile/resources.js';
import { applyDefaults } from '../shared/api/index.js';

const keys = positiveIntArg('keys', 1_000_000);
const runs = positiveIntArg('runs', 1);
const valueBytes = positiveIntArg('value-bytes', 64);
const json = hasFlag('json');
const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
const NS = 'cache';
const NAME = 'bench';
const SPEC = { clusterNodeTimeout: 5000, maxMemory: '1gb' };
/**
 * The baselines' nodes run with the redis.conf the operator gives its Pods (maxmemory, policy,
 * replication settings...), so that only the path differs; paths and the cluster switch stay the
 * harness's own.
 */
const OPERATOR_CONFIG = Object.fromEntries(
  redisConf(applyDefaults(SPEC))
    .trim()
    .split('\n')
    .map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)])
    .filter(([key]) => !['cluster-enabled', 'cluster-config-file', 'dir'].includes(key!)),
) as Record<string, string>;

function slotCount(ranges: string[] | undefined): number {
  return (ranges ?? []).reduce((n, r) => {
    const [a, b] = r.split('-').map(Number) as [number, number?];
    return n + (b === undefined ? 1 : b - a + 1);
  }, 0);
}

async function readyWith(e2e: E2E, masters: number, timeoutMs: number): Promise<KubeObject> {
  return eventually(
    `${masters} balanced masters`,
    async () => {
      const obj = await waitForReady(e2e, NS, NAME, timeoutMs, masters * 2);
      const sizes = statusNodes(obj)
        .filter((n) => n.role === 'master' && slotCount(n.slots) > 0)
        .map((n) => slotCount(n.slots));
      const reshard = (obj.status as { reshard?: { state?: string } }).reshard;
      if (sizes.length !== masters || Math.max(...sizes) - Math.min(...sizes) > 1 || reshard?.state === 'Running') return undefined;
      return obj;
    },
    timeoutMs,
    500,
  );
}

async function endToEnd() {
  const e2e = await startE2E({ namespaces: [NS], pingIntervalMs: 60_000 });
  try {
    let { ready } = await applyCluster(e2e, {
      name: NAME,
      spec: SPEC,
      ports: 12,
      ready: () => readyWith(e2e, 3, 300_000),
    });
    log(`3x1 Ready; loading ${keys} keys of ${valueBytes} bytes`);
    await loadData(await slotOwners(statusNodes(ready)), keys, valueBytes);

    const probe = await startProbe(statusNodes(ready).filter((n) => n.role === 'master'));
    await new Promise((r) => setTimeout(r, 10_000));
    const t0 = now();
    log('kubectl scale --replicas=6');
    const scaled = await e2e.kubectl(['scale', `rediscluster/${NAME}`, '-n', NS, '--replicas=6']);
    if (scaled.code !== 0) throw new Error(`kubectl scale: ${scaled.stderr}`);
    // The timeline as `kubectl get` shows it: when the reshard was first seen running and done.
    let running: number | undefined;
    let completed: number | undefined;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const obj = await e2e.getCluster(NS, NAME).catch(() => undefined);
        const state = (obj?.status as { reshard?: { state?: string } } | undefined)?.reshard?.state;
        if (state === 'Running') running ??= now();
        if (state === 'Completed' && running !== undefined) completed ??= now();
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    ready = await readyWith(e2e, 6, 900_000);
    const t1 = now();
    watching = false;
    await watcher;
    const probed = await probe.stop();
    const reshard =
      (ready.status as { reshard?: { startedAt?: string; updatedAt?: string; message?: string; keysMoved?: number } }).reshard ?? {};
    const { lost, checked } = await verifyData(await slotOwners(statusNodes(ready)), keys, valueBytes);
    const before = probed.samples.filter((s) => s.at < t0).map((s) => s.ms);
    const during = probed.samples.filter((s) => s.at >= t0 && s.at <= t1).map((s) => s.ms);
    return {
      seconds: (t1 - t0) / 1000,
      toReshardSeconds: running !== undefined ? (running - t0) / 1000 : undefined,
      reshardSeenSeconds: running !== undefined && completed !== undefined ? (completed - running) / 1000 : undefined,
      afterReshardSeconds: completed !== undefined ? (t1 - completed) / 1000 : undefined,
      reshardSeconds:
        reshard.startedAt && reshard.updatedAt ? (Date.parse(reshard.updatedAt) - Date.parse(reshard.startedAt)) / 1000 : undefined,
      keysMoved: reshard.keysMoved,
      reshardMessage: reshard.message,
      lost,
      checked,
      probe: { failures: probed.failures, before: latency(before), during: latency(during) },
    };
  } finally {
    await e2e.stop();
  }
}

function latency(ms: number[]) {
  return { ops: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.reduce((a, b) => Math.max(a, b), 0) };
}

/** The same move without the platform, under the same client load as the end-to-end run. */
async function baseline(engine: 'engine' | 'redis-cli-p1000') {
  const c = await buildCluster(SCALE_OUT_WITH_REPLICAS, keys, valueBytes, { config: OPERATOR_CONFIG });
  try {
    const probe = await startProbe(c.harness.endpoints);
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = now();
    const keysMoved =
      engine === 'engine'
        ? (await runEngine(SCALE_OUT_WITH_REPLICAS, c)).keysMoved
        : (await runRedisCli(SCALE_OUT_WITH_REPLICAS, c, 1000), undefined);
    const t1 = now();
    const probed = await probe.stop();
    const { lost } = await checkData(c, keys, valueBytes);
    return {
      seconds: (t1 - t0) / 1000,
      keysMoved,
      lost,
      probe: { failures: probed.failures, during: latency(probed.samples.filter((x) => x.at >= t0 && x.at <= t1).map((x) => x.ms)) },
    };
  } finally {
    await c.close();
  }
}

interface RunResult {
  e2e: Awaited<ReturnType<typeof endToEnd>>;
  engine: Awaited<ReturnType<typeof baseline>>;
  cli: Awaited<ReturnType<typeof baseline>>;
}
const runsResult: RunResult[] = [];
for (let run = 1; run <= runs; run++) {
  log(`run ${run}/${runs}: end to end, 3 -> 6 masters with ${keys} keys`);
  const e2e = await endToEnd();
  log(`end to end: ${e2e.seconds.toFixed(1)} s, lost ${e2e.lost}`);
  log('engine alone on the same data and shape');
  const engine = await baseline('engine');
  log(`engine alone: ${engine.seconds.toFixed(1)} s, lost ${engine.lost}`);
  log('redis-cli --cluster rebalance --cluster-pipeline 1000 on the same data and shape');
  const cli = await baseline('redis-cli-p1000');
  log(`redis-cli: ${cli.seconds.toFixed(1)} s, lost ${cli.lost}`);
  runsResult.push({ e2e, engine, cli });
}

const e2eS = median(runsResult.map((r) => r.e2e.seconds));
const engineS = median(runsResult.map((r) => r.engine.seconds));
const cliS = median(runsResult.map((r) => r.cli.seconds));
const summary = {
  keys,
  valueBytes,
  runs,
  medians: {
    e2eSeconds: e2eS,
    toReshardSeconds: median(runsResult.map((r) => r.e2e.toReshardSeconds ?? NaN)),
    reshardSeenSeconds: median(runsResult.map((r) => r.e2e.reshardSeenSeconds ?? NaN)),
    afterReshardSeconds: median(runsResult.map((r) => r.e2e.afterReshardSeconds ?? NaN)),
    engineSeconds: engineS,
    redisCliP1000Seconds: cliS,
    e2eOverEngine: e2eS / engineS,
    redisCliOverEngine: cliS / engineS,
  },
  runsResult,
};

if (json) {
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} else {
  const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  const m = summary.medians;
  const per = (pick: (r: RunResult) => number | undefined, d = 1) => runsResult.map((r) => f(pick(r), d)).join(', ');
  const lost = (pick: (r: RunResult) => number) => Math.max(...runsResult.map(pick));
  const p = (r: RunResult) => r.e2e.probe;
  process.stdout.write(
    [
      `3 -> 6 masters (every master with one replica), ${keys} keys of ${valueBytes} bytes; median of ${runs} run(s)`,
      `| path | median s | runs (s) | x engine | keys lost (max) |`,
      `|---|---|---|---|---|`,
      `| kubectl scale -> Ready (embedded platform) | ${f(m.e2eSeconds)} | ${per((r) => r.e2e.seconds)} | ${f(m.e2eOverEngine, 2)} | ${lost((r) => r.e2e.lost)} |`,
      `| - scale -> reshard Running (Pods created and joined) | ${f(m.toReshardSeconds)} | ${per((r) => r.e2e.toReshardSeconds)} | | |`,
      `| - reshard Running -> Completed (as polled) | ${f(m.reshardSeenSeconds)} | ${per((r) => r.e2e.reshardSeenSeconds)} | | |`,
      `| - Completed -> Ready | ${f(m.afterReshardSeconds)} | ${per((r) => r.e2e.afterReshardSeconds)} | | |`,
      `| engine alone (planner + executor), same data and shape | ${f(m.engineSeconds)} | ${per((r) => r.engine.seconds)} | 1.00 | ${lost((r) => r.engine.lost)} |`,
      `| redis-cli --cluster rebalance --cluster-pipeline 1000, same data and shape | ${f(m.redisCliP1000Seconds)} | ${per((r) => r.cli.seconds)} | ${f(m.redisCliOverEngine, 2)} | ${lost((r) => r.cli.lost)} |`,
      '',
      `| client latency (ms), per run | p50 | p99 | max | failures |`,
      `|---|---|---|---|---|`,
      ...runsResult.flatMap((r, i) => [
        `| run ${i + 1} before (10 s, ${p(r).before.ops} ops) | ${f(p(r).before.p50, 2)} | ${f(p(r).before.p99, 2)} | ${f(p(r).before.max, 1)} | |`,
        `| run ${i + 1} during scale -> Ready (${p(r).during.ops} ops) | ${f(p(r).during.p50, 2)} | ${f(p(r).during.p99, 2)} | ${f(p(r).during.max, 1)} | ${p(r).failures} |`,
        `| run ${i + 1} during the engine alone (${r.engine.probe.during.ops} ops) | ${f(r.engine.probe.during.p50, 2)} | ${f(r.engine.probe.during.p99, 2)} | ${f(r.engine.probe.during.max, 1)} | ${r.engine.probe.failures} |`,
        `| run ${i + 1} during redis-cli rebalance (${r.cli.probe.during.ops} ops) | ${f(r.cli.probe.during.p50, 2)} | ${f(r.cli.probe.during.p99, 2)} | ${f(r.cli.probe.during.max, 1)} | ${r.cli.probe.failures} |`,
      ]),
      '',
    ].join('\n'),
  );
}
process.exit(0);
