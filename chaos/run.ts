// One chaos run: a cluster Ready, two ledger clients writing and reading their own keys (one
// acknowledged on the master's reply, one only after `WAIT 1`), the operation started, a fault
// injected at a moment the seed decides, then the invariants and the data counted.
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import { errorMessage } from '../shared/errors.js';
import { clientTls } from '../shared/tls/secret.js';
import { applyCluster, clusterClient, eventually, type E2E } from '../test/helpers/e2e.js';
import { missingWrites } from '../test/helpers/ledger.js';
import { startTimedLedger, type TimedLedgerResult } from '../test/helpers/timed-ledger.js';
import type { ChaosTarget, Fault, Injected } from './faults.js';
import { clusterProblems, leftovers } from './invariants.js';
import { targetSpec, type Operation } from './operations.js';
import { seeded } from './random.js';

export interface RunOptions {
  operation: Operation;
  /** The faults the seed picks one from. */
  faults: Fault[];
  seed: number;
  /** The window after the operation starts in which the fault lands. */
  durationMs: number;
  /** Writes per second of each ledger client. */
  rate?: number;
}

export interface LedgerCounts {
  acknowledged: number;
  /** Acknowledged writes that do not read back, outside any crashed master's replication window. */
  lost: number;
  /** Acknowledged writes lost inside a crashed master's replication window (allowed without WAIT). */
  lostInWindow: number;
  /** When the lost writes (the first 20) were acknowledged, in ms from the fault. */
  lostAckedAt: number[];
  /** Commands that failed after redirects and retries, by kind. */
  failures: Record<string, number>;
  wrongReads: number;
}

export interface RunResult {
  operation: string;
  fault: string;
  seed: number;
  injected: Injected;
  /** From the fault until the cluster was Ready and clean again. */
  recoveryMs: number;
  plain: LedgerCounts;
  waited: LedgerCounts;
  /** Invariants that did not hold (cluster state, leftovers); none on a passing run. */
  violations: string[];
}

const NODE_TIMEOUT_MS = 2000;
/**
 * How long before a master's crash a write it acknowledged may not have reached its replica; for a
 * master stopped and let run again, also how long after waking: it acknowledges what its clients
 * sent meanwhile before gossip tells it a replica took its place (Redis Cluster's known loss).
 */
const REPLICATION_WINDOW_MS = 1000;

export function passed(r: RunResult): boolean {
  return r.violations.length === 0 && r.plain.lost === 0 && r.waited.lost + r.waited.lostInWindow === 0;
}

function slotIn(slot: number, ranges: string[]): boolean {
  return ranges.some((r) => {
    const [from, to = from] = r.split('-').map(Number) as [number, number?];
    return slot >= from && slot <= to!;
  });
}

/**
 * Whether a write was acknowledged by a crashed master where Redis may lose it: on its slots, in
 * the window before the crash, or (a master stopped and let run again) in the window after it woke.
 */
export function inCrashWindow(w: { slot: number; sentAt: number; ms: number }, injected: Injected): boolean {
  if (injected.crashedMaster === undefined || !slotIn(w.slot, injected.crashedMaster)) return false;
  const ackedAt = w.sentAt + w.ms;
  const within = (from: number, to: number) => ackedAt >= from && ackedAt <= to;
  const { at, resumedAt } = injected;
  return within(at - REPLICATION_WINDOW_MS, at) || (resumedAt !== undefined && within(resumedAt, resumedAt + REPLICATION_WINDOW_MS));
}

/** A ledger whose writes could not be read back: what was lost is not known. */
function unread(result: TimedLedgerResult): LedgerCounts {
  return {
    acknowledged: result.writes.length,
    lost: NaN,
    lostInWindow: NaN,
    lostAckedAt: [],
    failures: result.failures,
    wrongReads: result.wrongReads,
  };
}

async function countLedger(client: Cluster, prefix: string, result: TimedLedgerResult, injected: Injected): Promise<LedgerCounts> {
  const lostNs = new Set(
    await missingWrites(
      client,
      result.writes.map((w) => w.n),
      prefix,
    ),
  );
  const lost = result.writes.filter((w) => lostNs.has(w.n));
  const lostInWindow = lost.filter((w) => inCrashWindow(w, injected)).length;
  return {
    acknowledged: result.writes.length,
    lost: lost.length - lostInWindow,
    lostInWindow,
    lostAckedAt: lost.slice(0, 20).map((w) => w.sentAt + w.ms - injected.at),
    failures: result.failures,
    wrongReads: result.wrongReads,
  };
}

export async function runScenario(e2e: E2E, index: number, opts: RunOptions): Promise<RunResult> {
  const { operation, seed } = opts;
  const random = seeded(seed);
  const fault = random.pick(opts.faults);
  const t: ChaosTarget = { e2e, namespace: `chaos-${index}`, name: `c${index}`, nodeTimeoutMs: NODE_TIMEOUT_MS };
  await e2e.platform.kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: t.namespace } });
  await operation.prepare?.(t);
  const want = targetSpec(operation, seed);
  const most = Math.max(operation.initial.masters, want.masters) * (1 + Math.max(operation.initial.replicas, want.replicas));
  const { ready } = await applyCluster(e2e, {
    name: t.name,
    namespace: t.namespace,
    spec: { ...operation.initial, clusterNodeTimeout: NODE_TIMEOUT_MS },
    // One more: a rolling update of a 1+1 cluster adds a Pod per shard first.
    ports: most + 1,
    timeoutMs: 180_000,
  });
  const seeds = (ready.status as { nodes: { ip: string; port: number }[] }).nodes;
  const rate = opts.rate ?? 50;
  // The ledgers keep the password they logged in with, as an application does until it reconnects.
  const auth = {
    ...(t.password ? { auth: { password: t.password } } : {}),
    ...(t.tls ? { tlsCa: t.tls.ca } : {}),
    ...(operation.switchesProtocol ? { giveUp: true } : {}),
  };
  const plainLedger = await startTimedLedger(seeds, rate, 'a', 5000, auth);
  const waitedLedger = await startTimedLedger(seeds, rate, 'w', 5000, { ...auth, wait: true });
  await sleep(1000);
  const violations: string[] = [];
  await operation.begin?.(t, seed);
  if (operation.patch) {
    const body = JSON.stringify({ spec: operation.patch(seed) });
    const patched = await e2e.kubectl(['-n', t.namespace, 'patch', 'rediscluster', t.name, '--type', 'merge', '-p', body]);
    if (patched.code !== 0) violations.push(`kubectl patch: ${patched.stderr.trim()}`);
  }
  await sleep(random.int(0, opts.durationMs));
  const injected = await fault.inject(t, random);
  // Let the fault be seen before asking whether the cluster is whole again.
  await sleep(NODE_TIMEOUT_MS);
  let last: string[] = [];
  const recovered = await eventually(
    'the cluster Ready and clean',
    async () => {
      last = await clusterProblems(t, want);
      if (last.length === 0 && operation.problems) last = await operation.problems(t);
      return last.length === 0 ? Date.now() : undefined;
    },
    240_000,
    1000,
  ).catch(() => undefined);
  if (recovered === undefined) violations.push(...last.map((p) => `not recovered: ${p}`));
  await sleep(1000);
  const [plainResult, waitedResult] = await Promise.all([plainLedger.stop(), waitedLedger.stop()]);
  const client = clusterClient((await e2e.getCluster(t.namespace, t.name))!, t.password, t.tls ? clientTls(t.tls.ca) : undefined);
  let plain = unread(plainResult);
  let waited = unread(waitedResult);
  try {
    plain = await countLedger(client, 'a', plainResult, injected);
    waited = await countLedger(client, 'w', waitedResult, injected);
  } catch (err) {
    // A cluster that never came back may not answer at all: the run fails, the runner goes on.
    violations.push(`ledgers not read back: ${errorMessage(err)}`);
  } finally {
    client.disconnect();
  }
  violations.push(...(await deleteAndCheck(t)));
  return {
    operation: operation.name,
    fault: fault.name,
    seed,
    injected,
    recoveryMs: recovered === undefined ? NaN : recovered - injected.at,
    plain,
    waited,
    violations,
  };
}

/** Deletes the RedisCluster and waits for nothing of it to be left; what is left is a violation. */
async function deleteAndCheck(t: ChaosTarget): Promise<string[]> {
  await t.e2e.kubectl(['-n', t.namespace, 'delete', 'rediscluster', t.name, '--wait=false']);
  let left: string[] = [];
  await eventually(
    'the cluster gone',
    async () => {
      left = await leftovers(t);
      return left.length === 0;
    },
    90_000,
    1000,
  ).catch(() => undefined);
  return left.map((l) => `left behind after delete: ${l}`);
}
