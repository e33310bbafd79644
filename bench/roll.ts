// Rolling update on the embedded platform, beside a naive roll on the same cluster and data: a
// cluster of each shape is loaded with N keys; under a fixed-rate client writing and reading back
// its own keys, (1) spec.image changes and the operator rolls it (replicas first, each master after
// a CLUSTER FAILOVER to its replica), then (2) each Pod is deleted in turn, waiting for the cluster
// to be whole again before the next, with no failover first (what a StatefulSet's rolling update
// does). Both are timed; the client's p99, each shard's longest write (its write pause), failed
// commands and lost writes are counted, and every loaded key is checked afterwards.
//
//   npm run bench:roll -- [--keys 1000000] [--shapes 3x1,6x1] [--rate 300] [--runs 1] [--json]
import { argValue, hasFlag, positiveIntArg } from './lib/args.js';
import { median } from './lib/stats.js';
import { LABEL_ORDINAL, LABEL_SHARD } from '../shared/api/labels.js';
import { loadData, slotOwners, verifyData } from './lib/data.js';
import {
  clusterClient,
  applyCluster,
  clusterPods,
  eventually,
  podIsReady,
  startE2E,
  statusNodes,
  waitForReady,
  withNode,
  type E2E,
} from '../test/helpers/e2e.js';
import { latencyByShard, percentile, shardsOf, startTimedLedger, type ShardLatency } from '../test/helpers/timed-ledger.js';
import { missingWrites } from '../test/helpers/ledger.js';

const keys = positiveIntArg('keys', 1_000_000);
const runs = positiveIntArg('runs', 1);
const rate = positiveIntArg('rate', 300);
const valueBytes = 64;
const shapes = (argValue('shapes') ?? '3x1,6x1').split(',').map((s) => {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m || Number(m[1]) < 3 || Number(m[2]) < 1)
    throw new Error(`--shapes: "${s}" is not MASTERSxREPLICAS with 3+ masters and 1+ replicas`);
  return { masters: Number(m[1]), replicas: Number(m[2]) };
});
const json = hasFlag('json');
const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
const NS = 'cache';
const NAME = 'bench';
const SPEC = { maxMemory: '1gb' };

type Kind = 'operator' | 'naive';
interface Roll {
  kind: Kind;
  seconds: number;
  writes: number;
  failed: number;
  failures: Record<string, number>;
  writesLost: number;
  wrongReads: number;
  p99: number;
  longest: number;
  shards: ShardLatency[];
  keysLost: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The operator's roll: a new image, then Ready for it with every Pod updated. */
async function operatorRoll(e2e: E2E, nodes: number, image: string): Promise<void> {
  const out = await e2e.kubectl(['-n', NS, 'patch', 'rediscluster', NAME, '--type', 'merge', '-p', JSON.stringify({ spec: { image } })]);
  if (out.code !== 0) throw new Error(`kubectl patch: ${out.stderr}`);
  await eventually('the roll to start', async () => (await e2e.getCluster(NS, NAME))?.status?.phase === 'Updating', 60_000, 200);
  const done = await waitForReady(e2e, NS, NAME, 1_800_000, nodes);
  const progress = (done.status as { rollingUpdate?: { progress?: string } }).rollingUpdate?.progress;
  if (progress !== `${nodes}/${nodes}`) throw new Error(`roll finished at ${progress}`);
}

/**
 * Whether the node is back in a cluster that is ok: a replica whose link to its master is up, or a
 * master (primary balance may have handed it a shard back).
 */
async function rejoined(node: { ip: string; port: number }): Promise<boolean> {
  return withNode(node, async (r) => {
    const repl = await r.info('replication');
    const cluster = String(await r.cluster('INFO'));
    const synced = /role:master/.test(repl) || /master_link_status:up/.test(repl);
    return synced && /cluster_state:ok/.test(cluster);
  }).catch(() => false);
}

/**
 * The naive roll: each Pod deleted in turn (last first), the next once the cluster is whole again.
 * Its replacement is the shard's next new Pod, at whatever ordinal the operator gives it (after a
 * surge roll the names are no longer 0..n-1, and a freed ordinal is not always reused).
 */
async function naiveRoll(e2e: E2E, nodes: number): Promise<void> {
  const pods = (await clusterPods(e2e, NS, NAME)).sort((a, b) => b.metadata!.name!.localeCompare(a.metadata!.name!));
  const basePort = ((await e2e.getCluster(NS, NAME))!.spec as { basePort: number }).basePort;
  for (const pod of pods) {
    const name = pod.metadata!.name!;
    const shard = pod.metadata!.labels![LABEL_SHARD];
    const known = new Set((await clusterPods(e2e, NS, NAME)).map((p) => p.metadata!.uid!));
    const out = await e2e.kubectl(['-n', NS, 'delete', 'pod', name, '--wait=false']);
    if (out.code !== 0) throw new Error(`kubectl delete pod ${name}: ${out.stderr}`);
    const back = await eventually(
      `a new Pod of ${name}'s shard to be Ready`,
      async () =>
        (await clusterPods(e2e, NS, NAME)).find(
          (p) => p.metadata!.labels![LABEL_SHARD] === shard && !known.has(p.metadata!.uid!) && podIsReady(p),
        ),
      600_000,
      200,
    );
    const node = { ip: back.status!.podIP as string, port: basePort + Number(back.metadata!.labels![LABEL_ORDINAL]) };
    await eventually(`${back.metadata!.name} to rejoin`, () => rejoined(node), 600_000, 200);
    await waitForReady(e2e, NS, NAME, 600_000, nodes);
  }
}

async function rollUnderLoad(e2e: E2E, kind: Kind, nodes: number, image: string): Promise<Roll> {
  const before = statusNodes((await e2e.getCluster(NS, NAME))!);
  const shards = shardsOf(before);
  const ledger = await startTimedLedger(before, rate, `${kind}-${image}`);
  await sleep(2000);
  const t0 = Date.now();
  await (kind === 'operator' ? operatorRoll(e2e, nodes, image) : naiveRoll(e2e, nodes));
  const seconds = (Date.now() - t0) / 1000;
  await sleep(2000);
  const result = await ledger.stop();
  const after = await waitForReady(e2e, NS, NAME, 120_000, nodes);
  const client = clusterClient(after);
  const writesLost = await missingWrites(
    client,
    result.writes.map((w) => w.n),
    `${kind}-${image}`,
  ).finally(() => client.disconnect());
  const { lost } = await verifyData(await slotOwners(statusNodes(after)), keys, valueBytes);
  const ms = result.writes.map((w) => w.ms);
  return {
    kind,
    seconds,
    writes: result.writes.length,
    failed: Object.values(result.failures).reduce((a, b) => a + b, 0),
    failures: result.failures,
    writesLost: writesLost.length,
    wrongReads: result.wrongReads,
    p99: percentile(ms, 99),
    longest: ms.reduce((a, b) => Math.max(a, b), 0),
    shards: latencyByShard(result.writes, shards),
    keysLost: lost,
  };
}

/** Loads the keys; again when primary balance moved a master meanwhile (MSET is idempotent). */
async function load(seeds: { ip: string; port: number }[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await loadData(await slotOwners(seeds), keys, valueBytes);
    } catch (err) {
      if (attempt >= 5 || !/^MOVED /.test((err as Error).message)) throw err;
      log('a master moved while loading; loading again');
      await sleep(2000);
    }
  }
}

async function benchShape(masters: number, replicas: number, run: number): Promise<Roll[]> {
  const nodes = masters * (1 + replicas);
  const e2e = await startE2E({ namespaces: [NS], pingIntervalMs: 60_000 });
  try {
    const { ready } = await applyCluster(e2e, { name: NAME, spec: { ...SPEC, masters, replicas }, timeoutMs: 300_000 });
    log(`${masters}x${replicas} Ready; loading ${keys} keys of ${valueBytes} bytes`);
    await load(statusNodes(ready));
    // Replicas hold the keys too before anything restarts.
    await waitForReady(e2e, NS, NAME, 300_000, nodes);
    const rolls: Roll[] = [];
    for (const kind of ['operator', 'naive'] as const) {
      log(`${masters}x${replicas}: ${kind} roll under ${rate} writes/s`);
      const roll = await rollUnderLoad(e2e, kind, nodes, `redis:7.0-bench-${run}`);
      log(
        `${kind}: ${roll.seconds.toFixed(1)} s, longest write ${roll.longest} ms, ${roll.failed} failed, ${roll.writesLost} writes and ${roll.keysLost} keys lost`,
      );
      rolls.push(roll);
    }
    return rolls;
  } finally {
    await e2e.stop();
  }
}

const results: { shape: string; run: number; rolls: Roll[] }[] = [];
for (let run = 1; run <= runs; run++) {
  for (const { masters, replicas } of shapes) {
    results.push({ shape: `${masters}x${replicas}`, run, rolls: await benchShape(masters, replicas, run) });
  }
}

const rows = shapes.flatMap(({ masters, replicas }) => {
  const shape = `${masters}x${replicas}`;
  return (['operator', 'naive'] as const).map((kind) => {
    const mine = results.filter((r) => r.shape === shape).map((r) => r.rolls.find((x) => x.kind === kind)!);
    const pauses = mine.map((r) => Math.max(...r.shards.map((s) => s.longest)));
    return {
      shape,
      kind,
      seconds: median(mine.map((r) => r.seconds)),
      p99: median(mine.map((r) => r.p99)),
      worstShardPause: median(pauses),
      shardPauses: mine.map((r) => r.shards.map((s) => s.longest)),
      failed: Math.max(...mine.map((r) => r.failed)),
      writes: median(mine.map((r) => r.writes)),
      writesLost: Math.max(...mine.map((r) => r.writesLost)),
      keysLost: Math.max(...mine.map((r) => r.keysLost)),
    };
  });
});

if (json) {
  process.stdout.write(`${JSON.stringify({ keys, valueBytes, rate, runs, rows, results }, null, 2)}\n`);
} else {
  const label = { operator: 'operator (failover first)', naive: 'naive (delete each Pod)' };
  process.stdout.write(
    [
      `Rolling update with ${keys} keys of ${valueBytes} bytes under ${rate} writes/s (each read back); median of ${runs} run(s)`,
      '| shape | roll | total s | client p99 ms | longest write per shard, ms | failed commands | acknowledged writes (lost) | loaded keys lost |',
      '|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.shape} | ${label[r.kind]} | ${r.seconds.toFixed(1)} | ${r.p99} | ${r.shardPauses.map((p) => p.join(', ')).join(' / ')} | ${r.failed} | ${r.writes} (${r.writesLost}) | ${r.keysLost} |`,
      ),
      '',
    ].join('\n'),
  );
}
process.exit(0);
