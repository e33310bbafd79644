// Scaling end to end on the embedded platform, with 200k keys and a client writing and reading
// throughout: `kubectl scale` 3 -> 4 masters (the reshard function killed mid-chunk), `kubectl
// patch` 4 -> 3 (the drained shard removed and forgotten everywhere), and 3 -> 4 again with a
// source master killed -9 mid-chunk. Every key survives; the CR is Ready again after each step.
import { describe, expect, it } from 'vitest';
import { loadKeys, startClientLoad, verifyAcked, verifyKeys, type ClientLoad } from '../helpers/redis-harness.js';
import {
  applyCluster,
  clusterClient,
  clusterPods,
  eventually,
  redisServers,
  statusNodes,
  useE2E,
  waitForReady,
  withNode,
} from '../helpers/e2e.js';
import type { KubeObject } from '../../local/apiserver/client.js';
import { setTimeout as sleep } from 'node:timers/promises';

const NS = 'cache';
const NAME = 'scaled';
const KEYS = 200_000;
const VALUE_BYTES = 24;
const PREFIX = 'data';

const e2e = useE2E({ namespaces: [NS] }, async (e) => {
  // Smaller chunks, so one reshard spans several deliveries and a kill lands inside one.
  const svc = (await e.platform.kube.get('serving.knative.dev/v1', 'Service', 'reshard', 'redis-operator'))!;
  const containers = (svc.spec as { template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } }).template.spec
    .containers;
  containers[0]!.env = [...(containers[0]!.env ?? []), { name: 'RESHARD_CHUNK_SLOTS', value: '512' }];
  await e.platform.kube.patch('serving.knative.dev/v1', 'Service', 'reshard', 'redis-operator', {
    spec: { template: { spec: { containers } } },
  });
});

interface ReshardView {
  state?: string;
  slotsDone?: number;
  slotsTotal?: number;
  currentMoves?: { source: string; target: string; slots: string[] }[];
}

const reshardOf = (obj: KubeObject | undefined) => (obj?.status as { reshard?: ReshardView } | undefined)?.reshard;

function slotCount(ranges: string[] | undefined): number {
  return (ranges ?? []).reduce((n, r) => {
    const [a, b] = r.split('-').map(Number) as [number, number?];
    return n + (b === undefined ? 1 : b - a + 1);
  }, 0);
}

/** Ready for the current generation with `masters` slot owners holding 16384 slots within one slot of each other. */
async function readyWith(masters: number, replicas: number, timeoutMs = 300_000): Promise<KubeObject> {
  return eventually(
    `${masters} balanced masters, Ready`,
    async () => {
      const obj = await waitForReady(e2e, NS, NAME, timeoutMs, masters * (1 + replicas));
      const owners = statusNodes(obj).filter((n) => n.role === 'master' && slotCount(n.slots) > 0);
      if (owners.length !== masters) return undefined;
      const sizes = owners.map((n) => slotCount(n.slots));
      if (sizes.reduce((a, b) => a + b, 0) !== 16384 || Math.max(...sizes) - Math.min(...sizes) > 1) return undefined;
      const r = reshardOf(obj);
      if (r && r.state === 'Running') return undefined;
      return obj;
    },
    timeoutMs,
    1000,
  );
}

/** Every node of the status agrees there are exactly `count` nodes (no ghost, no handshake). */
async function everyNodeKnows(obj: KubeObject, count: number): Promise<void> {
  await eventually(
    `every node to list exactly ${count} nodes`,
    async () => {
      for (const n of statusNodes(obj)) {
        const lines = await withNode(n, async (r) =>
          String(await r.call('CLUSTER', 'NODES'))
            .trim()
            .split('\n'),
        );
        if (lines.length !== count) return false;
      }
      return true;
    },
    60_000,
    1000,
  );
}

function loadAgainst(obj: KubeObject): ClientLoad {
  return startClientLoad(
    statusNodes(obj).map((n) => ({ ip: n.ip, port: n.port })),
    { workers: 2, prefix: `load${Date.now()}` },
  );
}

async function expectKeys(obj: KubeObject, acked: string[]): Promise<void> {
  const client = clusterClient(obj);
  try {
    expect(await verifyKeys(client, KEYS, VALUE_BYTES, PREFIX)).toMatchObject({ missing: 0, wrong: 0 });
    expect(await verifyAcked(client, acked)).toMatchObject({ missing: 0, wrong: 0 });
  } finally {
    client.disconnect();
  }
}

/** `kubectl scale` the masters (the /scale subresource), then waits for them Ready and balanced. */
async function scaleMasters(masters: number): Promise<KubeObject> {
  const scaled = await e2e.kubectl(['scale', `rediscluster/${NAME}`, '-n', NS, `--replicas=${masters}`]);
  expect(scaled.code, scaled.stderr).toBe(0);
  return readyWith(masters, 1);
}

/** Calls `act` once, the first time the reshard is running and part-way through. */
function duringReshard(act: (r: ReshardView, obj: KubeObject) => Promise<boolean>): { stop(): void; done: Promise<boolean> } {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const obj = await e2e.getCluster(NS, NAME).catch(() => undefined);
      const r = reshardOf(obj);
      if (
        obj &&
        r?.state === 'Running' &&
        (r.slotsDone ?? 0) > 0 &&
        (r.slotsDone ?? 0) < (r.slotsTotal ?? 0) &&
        (r.currentMoves?.length ?? 0) > 0
      ) {
        if (await act(r, obj)) return true;
      }
      await sleep(50);
    }
    return false;
  })();
  return { stop: () => (stopped = true), done };
}

describe('scaling end to end', () => {
  let ready: KubeObject;

  it('forms 3 masters with 200k keys', async () => {
    ({ ready } = await applyCluster(e2e, {
      name: NAME,
      // AOF: a master killed -9 and restarted before its replica takes over must come back with its data.
      spec: { redisConfig: { appendonly: 'yes' } },
      ports: 10,
      ready: () => readyWith(3, 1, 200_000),
    }));
    const client = clusterClient(ready);
    try {
      await loadKeys(client, KEYS, VALUE_BYTES, PREFIX);
    } finally {
      client.disconnect();
    }
  }, 300_000);

  it('kubectl scale --replicas=4 gives 4 balanced masters, with the reshard function killed mid-chunk', async () => {
    const load = loadAgainst(ready);
    let killedPid: number | undefined;
    const killer = duringReshard(async () => {
      const info = e2e.platform.serving.process('redis-operator', 'reshard');
      if (!info) return false;
      killedPid = info.pid;
      process.kill(info.pid, 'SIGKILL');
      return true;
    });
    const started = Date.now();
    try {
      ready = await scaleMasters(4);
    } finally {
      killer.stop();
    }
    console.log(`scale 3->4 (reshard function killed once): ${Date.now() - started} ms`);
    expect(await killer.done).toBe(true);
    expect(killedPid).toBeDefined();
    const stats = await load.stop();
    load.client.disconnect();
    expect(stats.ops).toBeGreaterThan(100);
    expect(stats.failures).toEqual([]);
    expect(reshardOf(ready)).toMatchObject({ state: 'Completed', slotsTotal: 4096, slotsDone: 4096 });
    // What a person sees in `kubectl get`: the RESHARD column.
    const table = await e2e.kubectl(['get', 'rediscluster', NAME, '-n', NS]);
    const [header, row] = table.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s{2,}/));
    expect(row![header!.indexOf('RESHARD')]).toBe('done (4096 slots)');
    await expectKeys(ready, stats.acked);
  }, 400_000);

  it('kubectl patch masters 4 -> 3 drains one master and removes its shard, forgotten everywhere', async () => {
    const before = statusNodes(ready);
    const load = loadAgainst(ready);
    const patched = await e2e.kubectl(['patch', 'rediscluster', NAME, '-n', NS, '--type', 'merge', '-p', '{"spec":{"masters":3}}']);
    expect(patched.code, patched.stderr).toBe(0);
    ready = await readyWith(3, 1);
    const stats = await load.stop();
    load.client.disconnect();
    expect(stats.failures).toEqual([]);
    expect(reshardOf(ready)).toMatchObject({ state: 'Completed', slotsDone: 4096 });

    const after = statusNodes(ready);
    const gone = before.filter((b) => !after.some((a) => a.id === b.id));
    expect(gone).toHaveLength(2);
    await eventually("the drained shard's Pods to be deleted", async () => (await clusterPods(e2e, NS, NAME)).length === 6, 60_000, 500);
    expect(await clusterPods(e2e, NS, NAME)).toHaveLength(6);
    await eventually(
      "the drained nodes' processes to end",
      async () => (await redisServers(gone.map((g) => g.port))).length === 0,
      60_000,
      500,
    );
    await everyNodeKnows(ready, 6);
    await expectKeys(ready, stats.acked);
  }, 400_000);

  it('3 -> 4 again with a source master killed -9 mid-chunk: the reshard resumes and finishes, no key lost', async () => {
    const load = loadAgainst(ready);
    let killed: string | undefined;
    const killer = duringReshard(async (r, obj) => {
      const source = r.currentMoves![0]!.source;
      const node = statusNodes(obj).find((n) => n.id === source);
      if (!node) return false;
      const procs = (await redisServers([node.port])).filter((p) => !p.ip || p.ip === node.ip);
      if (procs.length !== 1) return false;
      process.kill(procs[0]!.pid, 'SIGKILL');
      killed = `${node.pod} (${source.slice(0, 8)})`;
      return true;
    });
    try {
      ready = await scaleMasters(4);
    } finally {
      killer.stop();
    }
    expect(await killer.done).toBe(true);
    const stats = await load.stop();
    load.client.disconnect();
    // Commands to the killed master fail until its replica takes over; what was acknowledged stays.
    console.log(`killed ${killed}; client: ${stats.ops} ops, ${stats.failures.length} failed while the master was down`);
    expect(reshardOf(ready)).toMatchObject({ state: 'Completed' });
    await expectKeys(ready, stats.acked);
  }, 400_000);
});
