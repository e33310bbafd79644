// Measurements for docs/benchmarks.md: kubectl apply -> Ready for 3x1 and 6x1, and the reconcile
// function's cold start and memory. Each figure is also checked against a generous bound.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyCluster, freeBasePort, redisServers, statusNodes, useE2E } from '../helpers/e2e.js';

const NS = 'bench';
const e2e = useE2E({ namespaces: [NS] });

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

/** The V8 heap in use, from the function's own /metrics. */
async function heapUsedMiB(): Promise<number> {
  const text = await (await fetch(`${e2e.platform.serving.serviceUrl('redis-operator', 'reconcile')}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)$/m.exec(text);
  return Math.round(Number(m?.[1] ?? NaN) / 1024 / 1024);
}

async function applyAndTime(name: string, masters: number): Promise<number> {
  const count = masters * 2;
  const basePort = await freeBasePort(count);
  const t0 = Date.now();
  const { ready } = await applyCluster(e2e, { name, namespace: NS, spec: { basePort, masters }, timeoutMs: 240_000 });
  const ms = Date.now() - t0;
  expect(statusNodes(ready).filter((n) => n.role === 'master')).toHaveLength(masters);
  expect(await redisServers(Array.from({ length: count }, (_, i) => basePort + i))).toHaveLength(count);
  return ms;
}

describe('reconcile: measurements', () => {
  it('apply -> Ready for 3x1 and 6x1; cold start and memory of the function', async () => {
    const small = await applyAndTime('bench-3x1', 3);
    const fn = e2e.platform.serving.process('redis-operator', 'reconcile');
    expect(fn).toBeDefined();
    const coldStartMs = fn!.coldStartMs!;
    const rssAfterSmall = rssMiB(fn!.pid);
    const large = await applyAndTime('bench-6x1', 6);
    const rssAfterLarge = rssMiB(e2e.platform.serving.process('redis-operator', 'reconcile')!.pid);
    const heap = await heapUsedMiB();
    console.log(
      JSON.stringify({
        applyToReady3x1Ms: small,
        applyToReady6x1Ms: large,
        coldStartMs,
        rssMiBAfter3x1: rssAfterSmall,
        rssMiBAfter6x1: rssAfterLarge,
        heapUsedMiB: heap,
      }),
    );
    expect(small).toBeLessThan(120_000);
    expect(large).toBeLessThan(240_000);
    expect(coldStartMs).toBeLessThan(30_000);
    // Run through tsx here (it compiles on the fly); the bundled function is far smaller.
    expect(rssAfterLarge).toBeLessThan(512);
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThan(256);
  }, 600_000);
});
