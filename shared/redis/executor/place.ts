// Placing fresh nodes into a formed cluster, shard by shard: a shard with no master yet gets its
// first fresh node joined as an empty master (a reshard gives it slots later); the other fresh nodes,
// and members met but never made replicas, become replicas of the shard's master. The caller
// decides which nodes go to which shard.
import type { RedisPool } from '../connection.js';
import type { EngineAction, Endpoint, NodeReport } from '../types.js';
import { isFreshNode } from '../view.js';
import { attachReplica } from './replicas.js';
import { waitFor } from './util.js';
import { errorMessage } from '../../errors.js';

/** A node to place, by the name the caller knows it by. */
export interface NodeToPlace {
  name: string;
  endpoint: Endpoint;
  busPort: number;
  /** What it said when the caller last read it; without it the node is waited for briefly. */
  report?: NodeReport;
}

export interface ShardToPlace {
  shard: number;
  /** The shard's master in the cluster; without it the first fresh node becomes the master. */
  master?: { name: string; id: string; endpoint: Endpoint; busPort: number };
  /** Candidates in the order they are preferred as the master (lowest ordinal first). */
  nodes: NodeToPlace[];
  /** Members that were met but never made replicas (masters owning nothing): attached to `master`. */
  stranded?: NodeToPlace[];
}

export interface PlaceOptions {
  /** A member of the cluster that new masters MEET. */
  seed: Endpoint;
  /** How long a node that has not answered yet is waited for (it has only just started). */
  answerWaitMs: number;
  joinTimeoutMs?: number;
  replicaTimeoutMs?: number;
}

export interface PlaceResult {
  actions: EngineAction[];
  /** What failed, per shard and node; the other shards and nodes went on. */
  failures: { shard: number; node?: string; error: string }[];
}

/** The fresh nodes among `nodes`, waiting a moment for those that have not answered yet. */
async function freshNodes(
  pool: RedisPool,
  nodes: NodeToPlace[],
  answerWaitMs: number,
): Promise<{ node: NodeToPlace; report: NodeReport }[]> {
  const answered = await Promise.all(
    nodes.map(async (node) => {
      if (node.report) return { node, report: node.report };
      const report = await waitFor(
        `${node.name} to answer`,
        answerWaitMs,
        () => pool.readReport(node.endpoint).catch(() => undefined),
        100,
      ).catch(() => undefined);
      return report ? { node, report } : undefined;
    }),
  );
  return answered.filter((a): a is { node: NodeToPlace; report: NodeReport } => a !== undefined && isFreshNode(a.report));
}

/** MEETs the seed and waits until the seed knows the node (handshake over). */
async function joinAsMaster(pool: RedisPool, node: NodeToPlace, myId: string, seed: Endpoint, timeoutMs: number): Promise<void> {
  await pool.call(node.endpoint, 'CLUSTER', 'MEET', seed.ip, seed.port);
  await waitFor(
    `${node.name} to join the cluster`,
    timeoutMs,
    async () => {
      const { reports } = await pool.readAll([seed]);
      return reports[0]?.nodes.some((v) => v.id === myId && !v.flags.includes('handshake')) ? true : undefined;
    },
    200,
  );
}

async function placeShard(pool: RedisPool, target: ShardToPlace, opts: PlaceOptions, result: PlaceResult): Promise<void> {
  const fresh = await freshNodes(pool, target.nodes, opts.answerWaitMs);
  let master = target.master;
  if (!master) {
    const first = fresh.shift();
    if (!first) return;
    await joinAsMaster(pool, first.node, first.report.myId, opts.seed, opts.joinTimeoutMs ?? 20_000);
    result.actions.push({
      kind: 'meet',
      nodeId: first.report.myId,
      message: `${first.node.name} joined as an empty master of shard ${target.shard}`,
    });
    master = { name: first.node.name, id: first.report.myId, endpoint: first.node.endpoint, busPort: first.node.busPort };
  }
  const m = master;
  const toAttach = [...fresh.map((f) => f.node), ...(target.master ? (target.stranded ?? []) : [])];
  const attached = await Promise.allSettled(
    toAttach.map(async (node) => {
      // Meeting its master directly: REPLICATE needs the master known, which gossip alone takes seconds to tell.
      const done = await attachReplica(pool, node.endpoint, m.id, {
        seed: m.endpoint,
        seedBusPort: m.busPort,
        timeoutMs: opts.replicaTimeoutMs ?? 60_000,
      });
      for (const x of done)
        if (x.kind === 'replicate')
          result.actions.push({ ...x, message: `${node.name} attached as a replica of ${m.name} (shard ${target.shard})` });
    }),
  );
  attached.forEach((r, i) => {
    if (r.status === 'rejected') result.failures.push({ shard: target.shard, node: toAttach[i]!.name, error: errorMessage(r.reason) });
  });
}

/** Places every shard side by side, so shards whose nodes start a little apart join together. */
export async function placeShards(pool: RedisPool, shards: ShardToPlace[], opts: PlaceOptions): Promise<PlaceResult> {
  const result: PlaceResult = { actions: [], failures: [] };
  const jobs = await Promise.allSettled(shards.map((s) => placeShard(pool, s, opts, result)));
  jobs.forEach((r, i) => {
    if (r.status === 'rejected') result.failures.push({ shard: shards[i]!.shard, error: errorMessage(r.reason) });
  });
  return result;
}
