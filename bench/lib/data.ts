// Benchmark data: N keys of a fixed value size spread evenly over all 16384 slots (a hash tag per
// slot), written with pipelined MSET per slot straight to each slot's master, and verified by
// MGET per slot from whoever owns the slot afterwards.
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { keySlot } from '../../shared/redis/executor/util.js';
import { RedisPool } from '../../shared/redis/connection.js';
import { nodeEndpoint, readView } from '../../shared/redis/view.js';
import type { Endpoint } from '../../shared/redis/types.js';

let tags: string[] | undefined;

/** A hash tag for every slot: tagForSlot[s] hashes to s. */
export function slotTags(): string[] {
  if (tags) return tags;
  const out: (string | undefined)[] = new Array(16384).fill(undefined);
  let missing = 16384;
  for (let n = 0; missing > 0; n++) {
    const t = `t${n.toString(36)}`;
    const s = keySlot(t);
    if (out[s] === undefined) {
      out[s] = t;
      missing--;
    }
  }
  tags = out as string[];
  return tags;
}

export function benchKey(i: number): string {
  return `{${slotTags()[i % 16384]!}}:${i}`;
}

export function benchValue(key: string, valueBytes: number): string {
  const head = `${key}|`;
  return head.length >= valueBytes ? head.slice(0, valueBytes) : head + '.'.repeat(valueBytes - head.length);
}

/** The keys of slot s among 0..count-1. */
function keysOfSlot(s: number, count: number): string[] {
  const out: string[] = [];
  for (let i = s; i < count; i += 16384) out.push(benchKey(i));
  return out;
}

/** How the benchmark's clients log in and, for a TLS cluster, check the nodes' certificates. */
export interface Access {
  password?: string;
  tls?: ConnectionOptions;
}

function client(e: Endpoint, access: Access): Redis {
  return new Redis({ host: e.ip, port: e.port, maxRetriesPerRequest: 1, ...access });
}

/** slot -> endpoint of its owner. */
export type SlotOwners = Endpoint[];

/** Who owns each slot now, as the cluster reached from `seeds` says. */
export async function slotOwners(seeds: Endpoint[], access: Access = {}): Promise<SlotOwners> {
  const pool = new RedisPool(access);
  try {
    const map = await readView(
      pool,
      seeds.map((n) => ({ ip: n.ip, port: n.port })),
      { discover: true },
    );
    return map.owners.map((id) => nodeEndpoint(map, id!));
  } finally {
    await pool.close();
  }
}

export async function loadData(owners: SlotOwners, count: number, valueBytes: number, access: Access = {}): Promise<void> {
  const bySlot = new Map<string, number[]>();
  owners.forEach((e, s) => {
    const k = `${e.ip}:${e.port}`;
    bySlot.set(k, [...(bySlot.get(k) ?? []), s]);
  });
  await Promise.all(
    [...bySlot.entries()].map(async ([addr, slots]) => {
      const [ip, port] = addr.split(':') as [string, string];
      const c = client({ ip, port: Number(port) }, access);
      try {
        for (let i = 0; i < slots.length; i += 256) {
          const p = c.pipeline();
          for (const s of slots.slice(i, i + 256)) {
            const keys = keysOfSlot(s, count);
            if (keys.length) p.mset(...keys.flatMap((k) => [k, benchValue(k, valueBytes)]));
          }
          const res = await p.exec();
          for (const [err] of res ?? []) if (err) throw err;
        }
      } finally {
        c.disconnect();
      }
    }),
  );
}

/** Keys missing or wrong, reading every slot's keys from its current owner. */
export async function verifyData(
  owners: SlotOwners,
  count: number,
  valueBytes: number,
  access: Access = {},
): Promise<{ lost: number; checked: number }> {
  const bySlot = new Map<string, number[]>();
  owners.forEach((e, s) => {
    const k = `${e.ip}:${e.port}`;
    bySlot.set(k, [...(bySlot.get(k) ?? []), s]);
  });
  let lost = 0;
  let checked = 0;
  await Promise.all(
    [...bySlot.entries()].map(async ([addr, slots]) => {
      const [ip, port] = addr.split(':') as [string, string];
      const c = client({ ip, port: Number(port) }, access);
      try {
        for (let i = 0; i < slots.length; i += 256) {
          const p = c.pipeline();
          const asked: string[][] = [];
          for (const s of slots.slice(i, i + 256)) {
            const keys = keysOfSlot(s, count);
            if (!keys.length) continue;
            asked.push(keys);
            p.mget(...keys);
          }
          const res = (await p.exec()) ?? [];
          asked.forEach((keys, j) => {
            const [err, values] = res[j] ?? [new Error('no reply'), null];
            checked += keys.length;
            if (err) {
              lost += keys.length;
              return;
            }
            (values as (string | null)[]).forEach((v, x) => {
              if (v !== benchValue(keys[x]!, valueBytes)) lost++;
            });
          });
        }
      } finally {
        c.disconnect();
      }
    }),
  );
  return { lost, checked };
}
