// Rolling updates on the platform, through kubectl as a person would: a 3x1 cluster under a
// fixed-rate client that writes and reads back its own keys; spec.image changes; every Pod is
// replaced exactly once, each master only after a replica took over, and no acknowledged write is
// lost or any command failed. Without persistence a 3x1 roll surges: each shard gets its new
// replica before any of its Pods goes, one shard at a time. A roll whose reconcile function is
// killed half-way resumes, and a roll paused half-way changes nothing for 30 s, until it is
// unpaused. The same roll on 3x2, which needs no surge.
import { describe, expect, it } from 'vitest';
import { applyCluster, clusterPods, eventually, statusNodes, useE2E, waitForReady, clusterClient, type E2E } from '../helpers/e2e.js';
import { missingWrites } from '../helpers/ledger.js';
import { latencyByShard, percentile, shardsOf, startTimedLedger } from '../helpers/timed-ledger.js';

const NS = 'cache';
const NAME = 'roll';
const RATE = 300;

const e2e = useE2E({ namespaces: [NS] });

interface RollingUpdateView {
  rollingUpdate?: { updated: number; total: number; progress: string };
  phase?: string;
}

interface WatchedPods {
  /** Every uid a Pod of the cluster has had. */
  uids: Set<string>;
  /** The uids of the first look. */
  first: Set<string>;
  /** The most Pods not terminating at one look. */
  most: number;
  stop: () => Promise<void>;
}

/** The cluster's Pods, polled until stopped. */
function watchPods(e2e: E2E): WatchedPods {
  const watched: WatchedPods = { uids: new Set(), first: new Set(), most: 0, stop: async () => {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      const pods = await clusterPods(e2e, NS, NAME).catch(() => undefined);
      if (pods) {
        for (const pod of pods) watched.uids.add(pod.metadata!.uid!);
        if (watched.first.size === 0) for (const pod of pods) watched.first.add(pod.metadata!.uid!);
        watched.most = Math.max(watched.most, pods.filter((p) => !p.metadata!.deletionTimestamp).length);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  watched.stop = async () => {
    running = false;
    await loop;
  };
  return watched;
}

/** Each Pod there before the roll was replaced exactly once: as many new Pods as old, none of the old left. */
async function expectReplacedOnce(pods: WatchedPods, podCount: number): Promise<void> {
  expect(pods.first.size).toBe(podCount);
  expect(pods.uids.size, 'Pods made by the roll').toBe(2 * podCount);
  const now = await clusterPods(e2e, NS, NAME);
  expect(now).toHaveLength(podCount);
  for (const pod of now) expect(pods.first.has(pod.metadata!.uid!), `${pod.metadata!.name} is a Pod from before the roll`).toBe(false);
}

/** The messages of the cluster's Events of `reason` last seen at or after `since` (repeats bump one Event's count). */
async function events(reason: string, since = 0): Promise<string[]> {
  const { items } = await e2e.platform.kube.list('v1', 'Event', NS);
  return items
    .filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === NAME && e.reason === reason)
    .filter((e) => Date.parse(e.lastTimestamp as string) >= since)
    .map((e) => e.message as string);
}

const setSpec = async (patch: Record<string, unknown>) => {
  const out = await e2e.kubectl(['-n', NS, 'patch', 'rediscluster', NAME, '--type', 'merge', '-p', JSON.stringify({ spec: patch })]);
  expect(out.stderr).toBe('');
};

const rollOf = async () => (await e2e.getCluster(NS, NAME))?.status as RollingUpdateView | undefined;

/** Pods already restarted by the roll of the current spec, once at least `n` are (the status is for this generation). */
async function restartedAtLeast(n: number): Promise<number | undefined> {
  const obj = await e2e.getCluster(NS, NAME);
  const status = obj?.status as (RollingUpdateView & { observedGeneration?: number }) | undefined;
  if (status?.observedGeneration !== obj?.metadata?.generation || status?.phase !== 'Updating') return undefined;
  const updated = status?.rollingUpdate?.updated ?? 0;
  return updated >= n ? updated : undefined;
}

/**
 * Changes spec.image under a timed client and checks the roll of the cluster as it is now: every Pod
 * restarted exactly once, each master after a failover, every write acknowledged and read back.
 */
async function rollUnderLoad(image: string, podCount: number, surge: boolean): Promise<void> {
  const ready = (await e2e.getCluster(NS, NAME))!;
  const nodes = statusNodes(ready);
  expect(nodes).toHaveLength(podCount);
  const masters = nodes.filter((n) => n.role === 'master');
  const shards = shardsOf(nodes);
  const total = `${podCount}/${podCount}`;
  expect((ready.status as RollingUpdateView).rollingUpdate?.progress).toBe(total);

  const ledger = await startTimedLedger(nodes, RATE, image);
  const pods = watchPods(e2e);
  await new Promise((r) => setTimeout(r, 2000));
  // Event timestamps are whole seconds.
  const t0 = Math.floor(Date.now() / 1000) * 1000;
  await setSpec({ image });
  await eventually('the roll to start', async () => (await rollOf())?.phase === 'Updating', 30_000, 200);
  const shown = await e2e.kubectl(['-n', NS, 'get', 'rediscluster', NAME]);
  expect(shown.stdout).toMatch(/UPDATING/);
  expect(shown.stdout).toMatch(new RegExp(`\\s\\d+/${podCount}\\s`));
  const done = await waitForReady(e2e, NS, NAME, 300_000, podCount);
  const took = Date.now() - t0;
  expect((done.status as RollingUpdateView).rollingUpdate?.progress).toBe(total);
  await new Promise((r) => setTimeout(r, 2000));
  await pods.stop();
  const result = await ledger.stop();

  await expectReplacedOnce(pods, podCount);
  // A surge is one Pod more, one shard at a time.
  expect(pods.most).toBe(podCount + (surge ? 1 : 0));
  for (const pod of await clusterPods(e2e, NS, NAME)) {
    expect((pod.spec as { containers: { name: string; image: string }[] }).containers.find((c) => c.name === 'redis')?.image).toBe(image);
  }
  // Every master handed over first and was restarted as a replica.
  const failovers = await events('Failover', t0);
  const restarts = await events('RollingUpdate', t0);
  expect(restarts).toHaveLength(podCount);
  for (const m of masters) {
    expect(failovers.some((e) => e.includes(`from ${m.pod} to `) && e.includes('before its restart'))).toBe(true);
    expect(restarts.some((e) => e.startsWith(`restarting Pod ${m.pod} (replica of shard`))).toBe(true);
  }
  expect(await events('SurgeUnschedulable', t0)).toEqual([]);

  const latencies = result.writes.map((w) => w.ms);
  const replicas = podCount / masters.length - 1;
  console.log(
    [
      `rolling update of ${masters.length}x${replicas} under ${RATE} writes/s: ${(took / 1000).toFixed(1)} s`,
      `${result.writes.length} writes acknowledged, ${result.reads} reads, p99 ${percentile(latencies, 99)} ms, longest ${Math.max(...latencies)} ms`,
      ...latencyByShard(result.writes, shards).map(
        (s) => `shard of ${s.pod}: ${s.writes} writes, p99 ${s.p99} ms, longest write ${s.longest} ms`,
      ),
    ].join('\n  '),
  );
  expect(result.failures).toEqual({});
  expect(result.wrongReads).toBe(0);
  expect(result.writes.length).toBeGreaterThan(RATE * 10);
  const client = clusterClient(done);
  try {
    expect(
      await missingWrites(
        client,
        result.writes.map((w) => w.n),
        image,
      ),
    ).toEqual([]);
  } finally {
    client.disconnect();
  }
}

describe('rolling update', () => {
  it('replaces every Pod of a 3x1 cluster once for a new image, a surge replica first in each shard, masters after a failover, losing nothing', async () => {
    await applyCluster(e2e, { name: NAME, spec: { masters: 3, replicas: 1 } });
    await rollUnderLoad('redis:7.2-roll', 6, true);
  }, 400_000);

  it('resumes a roll whose reconcile function was killed in the middle, restarting no Pod twice', async () => {
    const pods = watchPods(e2e);
    await setSpec({ image: 'redis:7.2-killed' });
    const atKill = await eventually('two Pods restarted', () => restartedAtLeast(2), 120_000, 200);
    expect(atKill).toBeLessThan(6);
    const killed = await e2e.kubectl([
      '-n',
      'redis-operator',
      'delete',
      'pod',
      '-l',
      'serving.knative.dev/service=reconcile',
      '--grace-period=0',
      '--force',
    ]);
    expect(killed.stdout).toMatch(/deleted/);
    const done = await waitForReady(e2e, NS, NAME, 240_000, 6);
    await pods.stop();
    expect((done.status as RollingUpdateView).rollingUpdate?.progress).toBe('6/6');
    await expectReplacedOnce(pods, 6);
  }, 400_000);

  it('changes nothing while paused in the middle of a roll, and finishes once unpaused', async () => {
    const pods = watchPods(e2e);
    await setSpec({ image: 'redis:7.2-paused' });
    await eventually('a first Pod restarted', () => restartedAtLeast(1), 120_000, 200);
    await setSpec({ paused: true });
    await eventually('the Paused phase', async () => (await rollOf())?.phase === 'Paused', 30_000, 200);
    // A restart already under way may still finish its container start; then nothing moves.
    await new Promise((r) => setTimeout(r, 3000));
    const snapshot = async () => {
      const list = await clusterPods(e2e, NS, NAME);
      const cluster = await e2e.getCluster(NS, NAME);
      return {
        pods: list.map((p) => `${p.metadata!.name}/${p.metadata!.uid}`).sort(),
        roles: statusNodes(cluster!).map((n) => `${n.pod}:${n.role}`),
        progress: (cluster!.status as RollingUpdateView).rollingUpdate?.progress,
      };
    };
    const before = await snapshot();
    expect(before.progress).not.toBe('6/6');
    await new Promise((r) => setTimeout(r, 30_000));
    expect(await snapshot()).toEqual(before);
    expect((await rollOf())?.phase).toBe('Paused');

    await setSpec({ paused: false });
    const done = await waitForReady(e2e, NS, NAME, 240_000, 6);
    await pods.stop();
    expect((done.status as RollingUpdateView).rollingUpdate?.progress).toBe('6/6');
    await expectReplacedOnce(pods, 6);
  }, 400_000);

  it('restarts every Pod of a 3x2 cluster once for a new image, masters after a failover to their most caught-up replica, losing nothing', async () => {
    await setSpec({ replicas: 2 });
    await waitForReady(e2e, NS, NAME, 120_000, 9);
    await rollUnderLoad('redis:7.2-three-by-two', 9, false);
  }, 500_000);
});
