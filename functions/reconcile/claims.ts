// Growing the nodes' claims when persistence.size grows: observe each claim's size and whether its
// StorageClass allows expansion, decide which to grow (pure), then ask for the new size. A claim
// whose class does not allow it keeps its size and the cluster keeps running, with a Warning.
import { compareQuantities, LABEL_ORDINAL, LABEL_SHARD, selectorFor, type DefaultedSpec } from '../../shared/api/index.js';
import type { Kube, ObjectRef } from '../../shared/kube/index.js';
import type { Step } from './decide.js';
import type { PassMemory } from './observe.js';

/** A claim of the cluster as one pass sees it. */
export interface ClaimInfo {
  name: string;
  ordinal: number;
  /** From its label; absent on claims made before the label was. */
  shard?: number;
  /** spec.resources.requests.storage */
  storage: string;
  storageClass?: string;
  /** Read only for a claim smaller than the spec asks: its class has allowVolumeExpansion. */
  expandable?: boolean;
}

export type GrowClaims = Extract<Step, { kind: 'grow-claims' }>;

const smallerThan = (size: string | number) => (c: ClaimInfo) => compareQuantities(c.storage, size) < 0;

export async function observeClaims(kube: Kube, ref: ObjectRef, spec: DefaultedSpec): Promise<ClaimInfo[]> {
  const list = await kube.core.listNamespacedPersistentVolumeClaim({ namespace: ref.namespace, labelSelector: selectorFor(ref.name) });
  const number = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);
  const claims: ClaimInfo[] = list.items.flatMap((c) => {
    const ordinal = number(c.metadata?.labels?.[LABEL_ORDINAL]);
    const shard = number(c.metadata?.labels?.[LABEL_SHARD]);
    if (ordinal === undefined || c.metadata?.deletionTimestamp) return [];
    return [
      {
        name: c.metadata?.name ?? '',
        ordinal,
        ...(shard !== undefined ? { shard } : {}),
        storage: String(c.spec?.resources?.requests?.storage ?? '0'),
        ...(c.spec?.storageClassName ? { storageClass: c.spec.storageClassName } : {}),
      },
    ];
  });
  const classes = new Map<string, boolean>();
  for (const claim of claims.filter(smallerThan(spec.persistence.size))) {
    const name = claim.storageClass;
    if (name && !classes.has(name)) classes.set(name, (await kube.getStorageClass(name))?.allowVolumeExpansion === true);
    claim.expandable = name ? classes.get(name)! : false;
  }
  return claims;
}

/**
 * The claims smaller than persistence.size: those to grow, and those whose class does not allow it
 * (said once a pass, in its first round).
 */
export function claimsStep(spec: DefaultedSpec, claims: readonly ClaimInfo[] | undefined, pass: PassMemory): GrowClaims | undefined {
  if (!spec.persistence.enabled || !claims || pass.taken.has('grow-claims')) return undefined;
  const small = claims.filter(smallerThan(spec.persistence.size));
  if (small.length === 0 || (pass.round > 0 && !small.some((c) => c.expandable))) return undefined;
  return {
    kind: 'grow-claims',
    size: String(spec.persistence.size),
    grow: small.filter((c) => c.expandable).map((c) => c.name),
    refused: small.filter((c) => !c.expandable).map((c) => ({ claim: c.name, storageClass: c.storageClass ?? '' })),
  };
}

export interface GrowContext {
  kube: Kube;
  ref: ObjectRef;
  record: (reason: 'ClaimsExpanded' | 'ClaimExpansionRefused', message: string) => Promise<void>;
}

export async function growClaims(ctx: GrowContext, step: GrowClaims): Promise<void> {
  for (const claim of step.grow) await ctx.kube.resizeClaim(ctx.ref.namespace, claim, step.size);
  if (step.grow.length) await ctx.record('ClaimsExpanded', `claims ${step.grow.join(', ')} asked to grow to ${step.size}`);
  const byClass = new Map<string, string[]>();
  for (const r of step.refused) byClass.set(r.storageClass, [...(byClass.get(r.storageClass) ?? []), r.claim]);
  for (const [storageClass, claims] of byClass) {
    const which = storageClass
      ? `StorageClass ${storageClass} does not allow volume expansion`
      : 'they have no StorageClass to expand them';
    await ctx.record(
      'ClaimExpansionRefused',
      `claims ${claims.join(', ')} stay at their size, not ${step.size}: ${which} (allowVolumeExpansion); the cluster keeps running`,
    );
  }
}
