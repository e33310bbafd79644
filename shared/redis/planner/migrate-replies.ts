// What the replies of a MIGRATE round mean for the slot they were about. Pure.
import { isConnectionError } from '../connection.js';

export type MigrateReply =
  /** The keys moved (NOKEY: none of them was there any more). */
  | 'moved'
  | 'nokey'
  /** The target already has some of the keys: the source is the slot's authority, send them again with REPLACE. */
  | 'busy-key'
  /** The target did not answer MIGRATE: worth a retry while it is still a reachable master. */
  | 'target-silent'
  /** The target refuses while the cluster is down or loading: wait, bounded. */
  | 'cluster-down'
  /** Anything else: the pair stops. */
  | 'refused';

export function classifyMigrateReply(reply: unknown): MigrateReply {
  if (!(reply instanceof Error)) return String(reply) === 'NOKEY' ? 'nokey' : 'moved';
  if (/BUSYKEY/.test(reply.message)) return 'busy-key';
  if (/IOERR/.test(reply.message) || isConnectionError(reply)) return 'target-silent';
  if (/CLUSTERDOWN|TRYAGAIN|LOADING/.test(reply.message)) return 'cluster-down';
  return 'refused';
}

/**
 * The reply that followed a slot's MIGRATE in the same pipeline: its next batch of keys
 * (GETKEYSINSLOT), or its key count (COUNTKEYSINSLOT, asked when the batch held every key listed).
 * A slot is finished on a zero count or an empty listing.
 */
export type SlotListing = { kind: 'failed'; error: Error } | { kind: 'finished' } | { kind: 'relist' } | { kind: 'keys'; keys: Buffer[] };

export function classifyListing(reply: unknown): SlotListing {
  if (reply instanceof Error) return { kind: 'failed', error: reply };
  if (typeof reply === 'number') return reply > 0 ? { kind: 'relist' } : { kind: 'finished' };
  const keys = reply as Buffer[];
  return keys.length ? { kind: 'keys', keys } : { kind: 'finished' };
}
