// The faults a run injects while an operation is under way. Each picks its target with the run's
// Random and says what it hit and when; a crash of a master also says which slots it served, since
// writes it acknowledged just before the crash may be lost (Redis replicates asynchronously).
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject } from '../local/apiserver/client.js';
import { LABEL_SHARD } from '../shared/api/labels.js';
import { clusterPods, NODE_ADDRESSES, redisServers, statusNodes, type E2E } from '../test/helpers/e2e.js';
import type { Random } from './random.js';

export interface ChaosTarget {
  e2e: E2E;
  namespace: string;
  name: string;
  /** spec.clusterNodeTimeout: a stopped node is held longer than this. */
  nodeTimeoutMs: number;
  /** The password a new connection logs in with now, when the cluster has one. */
  password?: string;
  /** The CA a TLS cluster's nodes are checked against: PEM, and a file of it for redis-cli. */
  tls?: { ca: string; caFile: string };
}

export interface Injected {
  fault: string;
  /** What was hit, in words. */
  target: string;
  at: number;
  /** A master that crashed (kill -9, SIGSTOP): the slots it served. */
  crashedMaster?: string[];
  /** When a stopped node was let run again (SIGCONT). */
  resumedAt?: number;
}

export interface Fault {
  name: string;
  inject(t: ChaosTarget, random: Random): Promise<Injected>;
}

type StatusNode = ReturnType<typeof statusNodes>[number];

async function nodesOf(t: ChaosTarget): Promise<StatusNode[]> {
  const obj = (await t.e2e.getCluster(t.namespace, t.name)) as KubeObject;
  return [...statusNodes(obj)].sort((a, b) => a.pod.localeCompare(b.pod));
}

async function pidOf(node: StatusNode): Promise<number> {
  const proc = (await redisServers([node.port])).find((p) => p.ip === node.ip);
  if (!proc) throw new Error(`no redis-server for ${node.pod} at ${node.ip}:${node.port}`);
  return proc.pid;
}

function killRedis(role: 'master' | 'replica'): Fault {
  return {
    name: `kill-9-${role}`,
    async inject(t, random) {
      const node = random.pick((await nodesOf(t)).filter((n) => n.role === role));
      const pid = await pidOf(node);
      const at = Date.now();
      process.kill(pid, 'SIGKILL');
      return { fault: this.name, target: node.pod, at, ...(role === 'master' ? { crashedMaster: node.slots ?? [] } : {}) };
    },
  };
}

const sigstop: Fault = {
  name: 'sigstop-node',
  async inject(t, random) {
    const node = random.pick(await nodesOf(t));
    const pid = await pidOf(node);
    const at = Date.now();
    process.kill(pid, 'SIGSTOP');
    // Longer than the node timeout: the others mark it failed and, for a master, fail over.
    await sleep(t.nodeTimeoutMs * 3);
    process.kill(pid, 'SIGCONT');
    const resumedAt = Date.now();
    return {
      fault: this.name,
      target: `${node.pod} (${node.role})`,
      at,
      resumedAt,
      ...(node.role === 'master' ? { crashedMaster: node.slots ?? [] } : {}),
    };
  },
};

const killFunction: Fault = {
  name: 'kill-function',
  async inject(t, random) {
    // The function at work now; scaled to zero between events, so wait a little for one.
    const names = ['reconcile', 'reshard', 'scale'];
    for (let i = 0; i < 100; i++) {
      const running = names.map((n) => t.e2e.platform.serving.process('redis-operator', n)).filter((p) => p !== undefined);
      if (running.length > 0) {
        const proc = random.pick(running);
        const at = Date.now();
        process.kill(proc.pid, 'SIGKILL');
        return { fault: this.name, target: `function process ${proc.pid}`, at };
      }
      await sleep(100);
    }
    return { fault: this.name, target: 'none (no function process running for 10 s)', at: Date.now() };
  },
};

const deletePod: Fault = {
  name: 'delete-pod',
  async inject(t, random) {
    const pods = (await clusterPods(t.e2e, t.namespace, t.name)).map((p) => p.metadata!.name!).sort();
    const pod = random.pick(pods);
    const at = Date.now();
    await t.e2e.platform.kube.delete('v1', 'Pod', pod, t.namespace);
    return { fault: this.name, target: pod, at };
  },
};

/**
 * A machine gone: its Redis processes die at once (no preStop hook, no SIGTERM), then its Pods are
 * force-deleted, as a person or the node controller does for a machine that is not coming back.
 */
const machineLost: Fault = {
  name: 'machine-lost',
  inject: (t, random) => loseMachine(t, 'machine-lost', random.pick(NODE_ADDRESSES)),
};

async function loseMachine(t: ChaosTarget, fault: string, machine: string, why = ''): Promise<Injected> {
  // A node the status names no Pod for ('') is skipped: an empty name would delete every Pod.
  const lost = (await nodesOf(t)).filter((n) => n.ip === machine && n.pod);
  const pids = await Promise.all(lost.map((n) => pidOf(n).catch(() => undefined)));
  const at = Date.now();
  for (const pid of pids) if (pid !== undefined) process.kill(pid, 'SIGKILL');
  await Promise.all(
    lost.map((n) => t.e2e.platform.kube.delete('v1', 'Pod', n.pod, t.namespace, { gracePeriodSeconds: 0 }).catch(() => undefined)),
  );
  const slots = lost.filter((n) => n.role === 'master').flatMap((n) => n.slots ?? []);
  return { fault, target: `${machine}: ${lost.map((n) => n.pod).join(', ')}${why}`, at, ...(slots.length ? { crashedMaster: slots } : {}) };
}

/**
 * The moment a roll is most exposed: as it restarts a shard's replica, the machine of that shard's
 * master is lost. Without another copy of the shard, its keys are gone. With no replica restart
 * seen within two minutes, a machine the seed picks is lost instead.
 */
const masterLostInRoll: Fault = {
  name: 'master-lost-in-roll',
  async inject(t, random) {
    const restart = await replicaRestart(t, 120_000);
    const inShard = new Set(
      (await clusterPods(t.e2e, t.namespace, t.name))
        .filter((p) => p.metadata?.labels?.[LABEL_SHARD] === String(restart?.shard))
        .map((p) => p.metadata!.name!),
    );
    const master = restart && (await nodesOf(t)).find((n) => n.role === 'master' && inShard.has(n.pod));
    if (!master) return loseMachine(t, this.name, random.pick(NODE_ADDRESSES), ' (no replica restart seen)');
    return loseMachine(t, this.name, master.ip, ` (master of shard ${restart.shard}, as ${restart.pod} restarted)`);
  },
};

/** The first replica restart the roll records, as its Event says. */
async function replicaRestart(t: ChaosTarget, withinMs: number): Promise<{ pod: string; shard: number } | undefined> {
  for (const until = Date.now() + withinMs; Date.now() < until; await sleep(100)) {
    const { items } = await t.e2e.platform.kube.list('v1', 'Event', t.namespace);
    for (const e of items) {
      if ((e.involvedObject as { name?: string } | undefined)?.name !== t.name || e.reason !== 'RollingUpdate') continue;
      const m = /^restarting Pod (\S+) \(replica of shard (\d+)\)/.exec(String(e.message));
      if (m) return { pod: m[1]!, shard: Number(m[2]) };
    }
  }
  return undefined;
}

function outage(name: string, what: string, down: (e2e: E2E) => Promise<void> | void, up: (e2e: E2E) => Promise<void> | void): Fault {
  return {
    name,
    async inject(t, random) {
      const heldMs = random.int(5_000, 15_000);
      const at = Date.now();
      await down(t.e2e);
      await sleep(heldMs);
      await up(t.e2e);
      return { fault: name, target: `${what} for ${heldMs} ms`, at };
    },
  };
}

export const FAULTS: Fault[] = [
  killRedis('master'),
  killRedis('replica'),
  sigstop,
  killFunction,
  deletePod,
  machineLost,
  outage(
    'broker-down',
    'Broker ingress closed',
    (e) => e.platform.eventing.stopIngress(),
    (e) => e.platform.eventing.startIngress(),
  ),
  outage(
    'apiserver-restarted',
    'API server stopped, then started again from its state file',
    (e) => e.platform.apiServer.stop(),
    (e) => e.platform.apiServer.start(),
  ),
  outage(
    'scheduler-paused',
    'scheduler paused',
    (e) => e.platform.scheduler.pause(),
    (e) => e.platform.scheduler.resume(),
  ),
];

/** Faults that wait for their moment in one operation (named, not part of `all`). */
export const TARGETED_FAULTS: Fault[] = [masterLostInRoll];

export function faultNamed(name: string): Fault {
  const known = [...FAULTS, ...TARGETED_FAULTS];
  const fault = known.find((f) => f.name === name);
  if (!fault) throw new Error(`--faults: unknown fault "${name}"; one of ${known.map((f) => f.name).join(', ')}`);
  return fault;
}
