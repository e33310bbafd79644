// Reshard benchmark: the engine against `redis-cli --cluster rebalance` (default pipeline and
// --cluster-pipeline 1000) on the same data, alternating, on real redis-server processes.
//
//   npm run bench:reshard -- [--keys 1000000] [--runs 3] [--value-bytes 100] [--scenarios 3->6,3->4,4->3]
//                            [--engines engine,redis-cli-p1000,redis-cli] [--slots-per-group 64] [--tls] [--json]
//
// --tls: every node serves TLS only (clients, bus, replication) with a certificate made by openssl
// for the run; the engine and redis-cli (--tls --cacert) check it against the run's CA.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { argValue, hasFlag, positiveIntArg } from './lib/args.js';
import { median } from './lib/stats.js';
import { SCENARIOS, buildCluster, checkData, runEngine, runRedisCli, type Scenario } from './lib/scenario.js';
import { certDir, issue, makeAuthority } from '../test/helpers/certificates.js';
import type { HarnessTls } from '../test/helpers/redis-harness.js';

type EngineName = 'engine' | 'redis-cli' | 'redis-cli-p1000';

const keys = positiveIntArg('keys', 1_000_000);
const runs = positiveIntArg('runs', 3);
const valueBytes = positiveIntArg('value-bytes', 100);
const json = hasFlag('json');
const slotsPerGroup = argValue('slots-per-group') === undefined ? undefined : positiveIntArg('slots-per-group', 64);
const wanted = argValue('scenarios')?.split(',');
const scenarios: Scenario[] = wanted
  ? wanted.map((w) => {
      const sc = SCENARIOS.find((s) => s.name === w);
      if (!sc) throw new Error(`--scenarios: unknown scenario "${w}" (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
      return sc;
    })
  : SCENARIOS;
const engines = (argValue('engines')?.split(',') ?? ['engine', 'redis-cli-p1000', 'redis-cli']) as EngineName[];
for (const e of engines) if (!['engine', 'redis-cli-p1000', 'redis-cli'].includes(e)) throw new Error(`--engines: unknown engine "${e}"`);
const log = (msg: string) => process.stderr.write(`${msg}\n`);
const tls = hasFlag('tls') ? makeTls() : undefined;

/** A CA and a node certificate for 127.0.0.1, as files for redis-server. */
function makeTls(): HarnessTls {
  const dir = certDir();
  const ca = makeAuthority(dir, 'bench-ca');
  const node = issue(ca, { names: ['localhost', '127.0.0.1'] });
  const file = (name: string, pem: string) => (writeFileSync(join(dir, name), pem), join(dir, name));
  return { certFile: file('tls.crt', node['tls.crt']), keyFile: file('tls.key', node['tls.key']), caFile: ca.crtFile, ca: ca.pem };
}

interface Sample {
  seconds: number;
  lost: number;
  extra: number;
  movedKeys?: number;
  peakRssMb?: number;
}

async function once(sc: Scenario, engine: EngineName): Promise<Sample> {
  const c = await buildCluster(sc, keys, valueBytes, tls ? { tls } : {});
  try {
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    // CPU of the redis-server processes (clock ticks) and of this process, to see where time goes.
    const redisTicks = () =>
      c.harness.nodes.reduce((n, x) => {
        const f = readFileSync(`/proc/${x.pid}/stat`, 'utf8').split(' ');
        return n + Number(f[13]) + Number(f[14]);
      }, 0);
    const c0 = redisTicks();
    const u0 = process.cpuUsage();
    const t0 = performance.now();
    let movedKeys: number | undefined;
    try {
      if (engine === 'engine') movedKeys = (await runEngine(sc, c, { slotsPerGroup })).keysMoved;
      else await runRedisCli(sc, c, engine === 'redis-cli-p1000' ? 1000 : undefined);
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(u0);
    const cpu = `redis-server CPU ${((redisTicks() - c0) / 100).toFixed(2)} s, this process ${((u.user + u.system) / 1e6).toFixed(2)} s`;
    const { lost, masterKeys } = await checkData(c, keys, valueBytes);
    const sample: Sample = { seconds, lost, extra: masterKeys - keys, movedKeys };
    if (engine === 'engine') sample.peakRssMb = Math.round(peak / 1024 / 1024);
    log(
      `${sc.name} ${engine}: ${seconds.toFixed(2)} s, lost ${lost}, keys on masters ${masterKeys}${movedKeys !== undefined ? `, moved ${movedKeys}` : ''} (${cpu})`,
    );
    return sample;
  } finally {
    await c.close();
  }
}

const results = [];
for (const sc of scenarios) {
  const samples: Record<EngineName, Sample[]> = { engine: [], 'redis-cli': [], 'redis-cli-p1000': [] };
  for (let r = 0; r < runs; r++) for (const e of engines) samples[e].push(await once(sc, e));
  const eng = median(samples.engine.map((s) => s.seconds));
  const cli = median(samples['redis-cli'].map((s) => s.seconds));
  const cli1000 = median(samples['redis-cli-p1000'].map((s) => s.seconds));
  const moved = median(samples.engine.map((s) => s.movedKeys ?? 0));
  const all = Object.values(samples).flat();
  results.push({
    name: sc.name,
    engineSeconds: Number(eng.toFixed(3)),
    redisCliSeconds: Number(cli.toFixed(3)),
    redisCliPipeline1000Seconds: Number(cli1000.toFixed(3)),
    lostKeys: Math.max(...all.map((s) => s.lost)),
    extraKeys: Math.max(...all.map((s) => Math.abs(s.extra))),
    movedKeys: moved,
    engineKeysPerSecond: Math.round(moved / eng),
    speedupVsRedisCli: Number((cli / eng).toFixed(2)),
    speedupVsRedisCliPipeline1000: Number((cli1000 / eng).toFixed(2)),
    enginePeakRssMb: Math.max(...samples.engine.map((s) => s.peakRssMb ?? 0)),
    runs,
  });
}

const head = ['scenario', 'engine s', 'redis-cli s', 'redis-cli p1000 s', 'x vs cli', 'x vs p1000', 'engine keys/s', 'peak RSS MB', 'lost'];
const rows = results.map((r) =>
  [
    r.name,
    r.engineSeconds,
    r.redisCliSeconds,
    r.redisCliPipeline1000Seconds,
    r.speedupVsRedisCli,
    r.speedupVsRedisCliPipeline1000,
    r.engineKeysPerSecond,
    r.enginePeakRssMb,
    r.lostKeys,
  ].map(String),
);
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
log(`\n${keys} keys of ${valueBytes} bytes, ${tls ? 'TLS' : 'plaintext'}, median of ${runs} runs`);
log(line(head));
for (const r of rows) log(line(r));
if (json) process.stdout.write(`${JSON.stringify({ keys, valueBytes, tls: Boolean(tls), runs, scenarios: results })}\n`);
if (tls) rmSync(dirname(tls.caFile), { recursive: true, force: true });
process.exitCode = results.some((r) => r.lostKeys > 0 || r.extraKeys > 0) ? 1 : 0;
