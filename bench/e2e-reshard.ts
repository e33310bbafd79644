// Scaling end to end on the embedded platform: 3 -> 6 masters (one replica each) with N keys, from
// `kubectl scale` to the RedisCluster Ready again, beside the engine alone (the bench:reshard
// path: planner + executor, no platform) on the same data, and a client's latency before and
// during the reshard.
//
//   npm run bench:e2e -- [--keys 1000000] [--value-bytes 64] [--json]
import { performance } from 'node:perf_hooks';
import type { Cluster } from 'ioredis';
import { RedisPool } from '../shared/redis/connection.js';
import { readClusterMap } from '../shared/redis/executor/util.js';
import { hasFlag, positiveIntArg } from './lib/args.js';
import { loadData, verifyData } from './lib/data.js';
import { SCENARIOS, buildCluster, checkData, runEngine } from './lib/scenario.js';
import { applyCluster, clusterClient, eventually, startE2E, statusNodes, waitForReady, type E2E } from '../test/helpers/e2e.js';
import type { KubeObject } from '../local/eventing/kube.js';

const keys = positiveIntArg('keys', 1_000_000);
const valueBytes = positiveIntArg('value-bytes', 64);
const json = hasFlag('json');
const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
const NS = 'cache';
const NAME = 'bench';

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

interface Sample {
  at: number;
  ms: number;
}

/** A client doing SET then GET of its own keys in a loop; every command's latency, redirects included. */
function startProbe(client: Cluster, workers = 4) {
  const samples: Sample[] = [];
  let failures = 0;
  let stopped = false;
  let seq = 0;
  const loop = async () => {
    while (!stopped) {
      const key = `probe:${seq++}`;
      for (const op of [() => client.set(key, 'x'.repeat(32)), () => client.get(key)]) {
        const t = performance.now();
        try {
          await op();
          samples.push({ at: t, ms: performance.now() - t });
        } catch {
          failures++;
        }
      }
    }
  };
  const runs = Array.from({ length: workers }, loop);
  return {
    samples,
    get failures() {
      return failures;
    },
    async stop() {
      stopped = true;
      await Promise.all(runs);
    },
  };
}

function slotCount(ranges: string[] | undefined): number {
  return (ranges ?? []).reduce((n, r) => {
    const [a, b] = r.split('-').map(Number) as [number, number?];
    return n + (b === undefined ? 1 : b - a + 1);
  }, 0);
}

async function readyWith(e2e: E2E, masters: number, timeoutMs: number): Promise<KubeObject> {
  return eventually(`${masters} balanced masters`, async () => {
    const obj = await waitForReady(e2e, NS, NAME, timeoutMs, masters * 2);
    const sizes = statusNodes(obj).filter((n) => n.role === 'master' && slotCount(n.slots) > 0).map((n) => slotCount(n.slots));
    const reshard = (obj.status as { reshard?: { state?: string } }).reshard;
    if (sizes.length !== masters || Math.max(...sizes) - Math.min(...sizes) > 1 || reshard?.state === 'Running') return undefined;
    return obj;
  }, timeoutMs, 500);
}

async function slotOwners(obj: KubeObject) {
  const pool = new RedisPool();
  try {
    const map = await readClusterMap(pool, statusNodes(obj).map((n) => ({ ip: n.ip, port: n.port })));
    return map.owner.map((id) => map.endpointOf(id!));
  } finally {
    await pool.close();
  }
}

async function endToEnd() {
  const e2e = await startE2E({ namespaces: [NS], pingIntervalMs: 60_000 });
  try {
    let { ready } = await applyCluster(e2e, {
      name: NAME,
      spec: { clusterNodeTimeout: 5000, maxMemory: '1gb' },
      ports: 12,
      ready: () => readyWith(e2e, 3, 300_000),
    });
    log(`3x1 Ready; loading ${keys} keys of ${valueBytes} bytes`);
    await loadData(await slotOwners(ready), keys, valueBytes);

    const client = clusterClient(ready);
    client.on('error', () => {});
    const probe = startProbe(client);
    await new Promise((r) => setTimeout(r, 10_000));
    const t0 = performance.now();
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
        if (state === 'Running') running ??= performance.now();
        if (state === 'Completed' && running !== undefined) completed ??= performance.now();
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    ready = await readyWith(e2e, 6, 900_000);
    const t1 = performance.now();
    watching = false;
    await watcher;
    await probe.stop();
    client.disconnect();
    const reshard = (ready.status as { reshard?: { startedAt?: string; updatedAt?: string; message?: string; keysMoved?: number } }).reshard ?? {};
    const { lost, checked } = await verifyData(await slotOwners(ready), keys, valueBytes);
    const before = probe.samples.filter((s) => s.at < t0).map((s) => s.ms);
    const during = probe.samples.filter((s) => s.at >= t0 && s.at <= t1).map((s) => s.ms);
    return {
      seconds: (t1 - t0) / 1000,
      toReshardSeconds: running !== undefined ? (running - t0) / 1000 : undefined,
      reshardSeenSeconds: running !== undefined && completed !== undefined ? (completed - running) / 1000 : undefined,
      afterReshardSeconds: completed !== undefined ? (t1 - completed) / 1000 : undefined,
      reshardSeconds: reshard.startedAt && reshard.updatedAt ? (Date.parse(reshard.updatedAt) - Date.parse(reshard.startedAt)) / 1000 : undefined,
      keysMoved: reshard.keysMoved,
      reshardMessage: reshard.message,
      lost,
      checked,
      probe: {
        failures: probe.failures,
        before: { ops: before.length, p50: percentile(before, 50), p99: percentile(before, 99), max: before.reduce((a, b) => Math.max(a, b), 0) },
        during: { ops: during.length, p50: percentile(during, 50), p99: percentile(during, 99), max: during.reduce((a, b) => Math.max(a, b), 0) },
      },
    };
  } finally {
    await e2e.stop();
  }
}

async function engineAlone() {
  const sc = SCENARIOS.find((s) => s.name === '3->6')!;
  const c = await buildCluster(sc, keys, valueBytes);
  try {
    const t0 = performance.now();
    const result = await runEngine(sc, c);
    const seconds = (performance.now() - t0) / 1000;
    const { lost } = await checkData(c, keys, valueBytes);
    return { seconds, keysMoved: result.keysMoved, slotsMoved: result.slotsMoved, lost };
  } finally {
    await c.close();
  }
}

log(`end to end: 3 -> 6 masters with ${keys} keys`);
const e2eResult = await endToEnd();
log(`end to end: ${e2eResult.seconds.toFixed(1)} s, lost ${e2eResult.lost}`);
log('engine alone on the same data');
const engine = await engineAlone();
log(`engine alone: ${engine.seconds.toFixed(1)} s, lost ${engine.lost}`);

if (json) {
  process.stdout.write(`${JSON.stringify({ keys, valueBytes, e2e: e2eResult, engine }, null, 2)}\n`);
} else {
  const f = (n: number | undefined, d = 1) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(d));
  const p = e2eResult.probe;
  process.stdout.write(
    [
      `3 -> 6 masters, ${keys} keys of ${valueBytes} bytes`,
      `| path | seconds | keys moved | keys lost |`,
      `|---|---|---|---|`,
      `| kubectl scale -> Ready (embedded platform) | ${f(e2eResult.seconds)} | ${e2eResult.keysMoved ?? '-'} | ${e2eResult.lost} of ${e2eResult.checked} |`,
      `| - scale -> reshard Running (Pods created, joined as empty masters) | ${f(e2eResult.toReshardSeconds)} | | |`,
      `| - reshard Running -> Completed (as polled; status startedAt -> updatedAt ${f(e2eResult.reshardSeconds)}) | ${f(e2eResult.reshardSeenSeconds)} | | |`,
      `| - Completed -> Ready (replicas in sync, status) | ${f(e2eResult.afterReshardSeconds)} | | |`,
      `| engine alone (planner + executor) | ${f(engine.seconds)} | ${engine.keysMoved} | ${engine.lost} |`,
      '',
      `| client latency (ms) | ops | p50 | p99 | max |`,
      `|---|---|---|---|---|`,
      `| before (10 s) | ${p.before.ops} | ${f(p.before.p50, 2)} | ${f(p.before.p99, 2)} | ${f(p.before.max, 1)} |`,
      `| during scale -> Ready | ${p.during.ops} | ${f(p.during.p50, 2)} | ${f(p.during.p99, 2)} | ${f(p.during.max, 1)} |`,
      `client failures: ${p.failures}`,
      '',
    ].join('\n'),
  );
}
process.exit(0);
