// One writer per cluster: a coordination.k8s.io/v1 Lease per RedisCluster, taken before any
// mutating Redis operation and renewed while working. A function that cannot take it does not
// wait: the holder, or the next event or resync, does the work. The cluster owns its Lease, so
// deleting the cluster deletes the Lease too.
import type { V1Lease, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../api/names.js';
import { isAlreadyExists, isConflict, isNotFound, type Kube, type ObjectRef } from './client.js';

export interface LeaseOptions {
  /** Who holds it: the function instance (e.g. `$K_SERVICE/$HOSTNAME/$PID`). */
  holder: string;
  /** Seconds after the last renewal at which another holder may take over. */
  durationSeconds?: number;
  now?: () => Date;
}

export interface HeldLease {
  readonly name: string;
  /** Extends the Lease; throws LeaseLostError when someone else took it meanwhile. */
  renew(): Promise<void>;
  /** Gives it up so the next taker need not wait for expiry. Never throws. */
  release(): Promise<void>;
  /** Renews every third of the duration until released; resolves the timer on release. */
  keepRenewed(onLost: (err: unknown) => void): void;
}

export class LeaseLostError extends Error {
  constructor(name: string, holder: string | undefined) {
    super(`Lease ${name} is now held by ${holder ?? 'nobody'}`);
    this.name = 'LeaseLostError';
  }
}

export function leaseNameFor(clusterName: string): string {
  return `rediscluster-${clusterName}`;
}

function isExpired(lease: V1Lease, now: Date): boolean {
  const spec = lease.spec ?? {};
  if (!spec.holderIdentity) return true;
  const renewed = spec.renewTime ? new Date(spec.renewTime as unknown as string).getTime() : 0;
  return renewed + (spec.leaseDurationSeconds ?? 0) * 1000 < now.getTime();
}

/** Who holds the cluster's Lease now; undefined when nobody does or it has expired. */
export async function leaseHolder(kube: Kube, cluster: ObjectRef, now: Date = new Date()): Promise<string | undefined> {
  try {
    const lease = await kube.coordination.readNamespacedLease({ name: leaseNameFor(cluster.name), namespace: cluster.namespace });
    return isExpired(lease, now) ? undefined : lease.spec?.holderIdentity;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The Lease as it stands; undefined when it does not exist yet. */
async function readLease(kube: Kube, name: string, namespace: string): Promise<V1Lease | undefined> {
  try {
    return await kube.coordination.readNamespacedLease({ name, namespace });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return undefined;
  }
}

/**
 * The RedisCluster as the Lease's owner, so the garbage collector deletes the Lease with the
 * cluster; undefined when the cluster is already gone.
 */
async function ownerOf(kube: Kube, cluster: ObjectRef): Promise<V1OwnerReference | undefined> {
  const uid = (await kube.getCluster(cluster))?.metadata?.uid;
  return uid ? { apiVersion: API_VERSION, kind: KIND, name: cluster.name, uid } : undefined;
}

/**
 * Creates the Lease, or takes it over when it is ours or expired. False when another holder has
 * it, or won the race for it.
 */
async function writeLease(
  kube: Kube,
  ref: { name: string; namespace: string },
  current: V1Lease | undefined,
  holder: string,
  duration: number,
  stamp: Date,
  owner?: V1OwnerReference,
): Promise<boolean> {
  const { name, namespace } = ref;
  try {
    if (!current) {
      await kube.coordination.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace, ...(owner ? { ownerReferences: [owner] } : {}) },
          spec: { holderIdentity: holder, leaseDurationSeconds: duration, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        },
      });
      return true;
    }
    const mine = current.spec?.holderIdentity === holder;
    if (!mine && !isExpired(current, stamp)) return false;
    await kube.coordination.replaceNamespacedLease({
      name,
      namespace,
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: holder,
          leaseDurationSeconds: duration,
          acquireTime: mine ? current.spec?.acquireTime : stamp,
          renewTime: stamp,
          leaseTransitions: (current.spec?.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      },
    });
    return true;
  } catch (err) {
    if (isConflict(err) || isAlreadyExists(err)) return false;
    throw err;
  }
}

/**
 * Takes the cluster's Lease if it is free, expired or already ours. Returns undefined when another
 * holder has it (or won a race for it) — the caller skips the mutation and acknowledges.
 */
export async function tryAcquireLease(kube: Kube, cluster: ObjectRef, opts: LeaseOptions): Promise<HeldLease | undefined> {
  const now = opts.now ?? (() => new Date());
  const duration = opts.durationSeconds ?? 30;
  const ref = { name: leaseNameFor(cluster.name), namespace: cluster.namespace };
  const current = await readLease(kube, ref.name, ref.namespace);
  const owner = current ? undefined : await ownerOf(kube, cluster);
  if (!(await writeLease(kube, ref, current, opts.holder, duration, now(), owner))) return undefined;
  return heldLease(kube, ref, opts.holder, duration, now);
}

/** The handle on a Lease just taken: renewal, release, and renewal on a timer. */
function heldLease(kube: Kube, ref: { name: string; namespace: string }, holder: string, duration: number, now: () => Date): HeldLease {
  const { name, namespace } = ref;
  let timer: NodeJS.Timeout | undefined;
  const held: HeldLease = {
    name,
    async renew() {
      const lease = await kube.coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== holder) throw new LeaseLostError(name, lease.spec?.holderIdentity);
      try {
        await kube.coordination.replaceNamespacedLease({
          name,
          namespace,
          body: { ...lease, spec: { ...lease.spec, renewTime: now() } },
        });
      } catch (err) {
        if (isConflict(err)) throw new LeaseLostError(name, undefined);
        throw err;
      }
    },
    async release() {
      if (timer) clearInterval(timer);
      timer = undefined;
      try {
        const lease = await kube.coordination.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== holder) return;
        // As client-go's leader election does: an empty holder with a 1 s duration frees it at once.
        await kube.coordination.replaceNamespacedLease({
          name,
          namespace,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } },
        });
      } catch {
        // Expiry frees it anyway.
      }
    },
    keepRenewed(onLost) {
      if (timer) return;
      timer = setInterval(
        () => {
          held.renew().catch((err) => {
            if (timer) clearInterval(timer);
            timer = undefined;
            onLost(err);
          });
        },
        Math.max(1000, (duration * 1000) / 3),
      );
      timer.unref();
    },
  };
  return held;
}
