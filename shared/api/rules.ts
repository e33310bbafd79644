// Rules that relate several spec fields. Each is written twice on purpose, side by side: as a
// TypeScript predicate (zod) and as a CEL rule (the API server), with one message for both.
import type { z } from 'zod';
import { BUS_PORT_OFFSET, MAX_NODES, MAX_PORT, type specFields } from './fields.js';
import { compareQuantities } from './quantity.js';

/** The spec after field defaults, as both zod refinements and CEL rules see it. */
export type SpecFields = z.output<typeof specFields>;

export interface SpecRule {
  /** Field the error is reported on, relative to spec. */
  field: string;
  message: string;
  /** CEL over `self` = spec; fields with defaults are present since the API server defaults first. */
  cel: string;
  holds(spec: SpecFields): boolean;
  /** The concrete numbers behind a failure, appended to the zod message. */
  detail?(spec: SpecFields): string;
}

const nodeCount = (masters: number, replicas: number) => masters * (1 + replicas);
/** The highest basePort at which `nodes` nodes keep every bus port <= MAX_PORT. */
const maxBasePortFor = (nodes: number) => MAX_PORT - BUS_PORT_OFFSET - (nodes - 1);

const autoscalingOn = '(has(self.autoscaling) && self.autoscaling.enabled)';

export const SPEC_RULES: readonly SpecRule[] = [
  {
    field: 'masters',
    message: `masters * (1 + replicas) must be at most ${MAX_NODES} (Redis Cluster is designed for up to ${MAX_NODES} nodes)`,
    cel: `self.masters * (1 + self.replicas) <= ${MAX_NODES}`,
    holds: (s) => nodeCount(s.masters, s.replicas) <= MAX_NODES,
    detail: (s) => `here ${nodeCount(s.masters, s.replicas)}`,
  },
  {
    field: 'basePort',
    message: `every node's cluster bus port (basePort + i + ${BUS_PORT_OFFSET} for the masters * (1 + replicas) nodes) must be at most ${MAX_PORT}`,
    cel: `self.basePort + self.masters * (1 + self.replicas) - 1 + ${BUS_PORT_OFFSET} <= ${MAX_PORT}`,
    holds: (s) => s.basePort <= maxBasePortFor(nodeCount(s.masters, s.replicas)),
    detail: (s) =>
      `with ${nodeCount(s.masters, s.replicas)} nodes basePort can be at most ${maxBasePortFor(nodeCount(s.masters, s.replicas))}`,
  },
  {
    field: 'autoscaling.minMasters',
    message: 'must not exceed autoscaling.maxMasters',
    cel: `!has(self.autoscaling) || self.autoscaling.minMasters <= self.autoscaling.maxMasters`,
    holds: (s) => s.autoscaling.minMasters <= s.autoscaling.maxMasters,
  },
  {
    field: 'autoscaling.minReplicas',
    message: 'must not exceed autoscaling.maxReplicas',
    cel: `!has(self.autoscaling) || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas`,
    holds: (s) => s.autoscaling.minReplicas <= s.autoscaling.maxReplicas,
  },
  {
    field: 'masters',
    message: 'must lie within autoscaling.minMasters..autoscaling.maxMasters while autoscaling is enabled',
    cel: `!${autoscalingOn} || (self.autoscaling.minMasters <= self.masters && self.masters <= self.autoscaling.maxMasters)`,
    holds: (s) => !s.autoscaling.enabled || (s.autoscaling.minMasters <= s.masters && s.masters <= s.autoscaling.maxMasters),
    detail: (s) => `here ${s.masters} outside ${s.autoscaling.minMasters}..${s.autoscaling.maxMasters}`,
  },
  {
    field: 'replicas',
    message: 'must lie within autoscaling.minReplicas..autoscaling.maxReplicas while autoscaling is enabled',
    cel: `!${autoscalingOn} || (self.autoscaling.minReplicas <= self.replicas && self.replicas <= self.autoscaling.maxReplicas)`,
    holds: (s) => !s.autoscaling.enabled || (s.autoscaling.minReplicas <= s.replicas && s.replicas <= s.autoscaling.maxReplicas),
    detail: (s) => `here ${s.replicas} outside ${s.autoscaling.minReplicas}..${s.autoscaling.maxReplicas}`,
  },
  {
    field: 'autoscaling.maxMasters',
    message: `autoscaling.maxMasters * (1 + autoscaling.maxReplicas) must be at most ${MAX_NODES} while autoscaling is enabled`,
    cel: `!${autoscalingOn} || self.autoscaling.maxMasters * (1 + self.autoscaling.maxReplicas) <= ${MAX_NODES}`,
    holds: (s) => !s.autoscaling.enabled || nodeCount(s.autoscaling.maxMasters, s.autoscaling.maxReplicas) <= MAX_NODES,
    detail: (s) => `here ${nodeCount(s.autoscaling.maxMasters, s.autoscaling.maxReplicas)}`,
  },
  {
    field: 'basePort',
    message: `every node autoscaling may create (autoscaling.maxMasters * (1 + autoscaling.maxReplicas)) must have a cluster bus port (basePort + i + ${BUS_PORT_OFFSET}) of at most ${MAX_PORT}`,
    cel: `!${autoscalingOn} || self.basePort + self.autoscaling.maxMasters * (1 + self.autoscaling.maxReplicas) - 1 + ${BUS_PORT_OFFSET} <= ${MAX_PORT}`,
    holds: (s) => !s.autoscaling.enabled || s.basePort <= maxBasePortFor(nodeCount(s.autoscaling.maxMasters, s.autoscaling.maxReplicas)),
    detail: (s) => {
      const nodes = nodeCount(s.autoscaling.maxMasters, s.autoscaling.maxReplicas);
      return `with up to ${nodes} nodes basePort can be at most ${maxBasePortFor(nodes)}`;
    },
  },
  {
    field: 'exporterResources',
    message: 'must equal exporter.resources when both are given (they mean the same thing)',
    // Compared list by list: the two objects have distinct CEL types, so `==` between them would
    // not type-check, while the limits/requests maps share one map type.
    cel:
      '!has(self.exporterResources) || !has(self.exporter) || !has(self.exporter.resources) || (' +
      (['limits', 'requests'] as const)
        .map((list) => {
          const [a, b] = [`self.exporterResources.${list}`, `self.exporter.resources.${list}`];
          return `(has(${a}) == has(${b}) && (!has(${a}) || ${a} == ${b}))`;
        })
        .join(' && ') +
      ')',
    holds: (s) =>
      s.exporterResources === undefined || s.exporter.resources === undefined || deepEqual(s.exporterResources, s.exporter.resources),
  },
];

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The rules as the CRD declares them on the spec object. */
export function celValidations(): { rule: string; message: string; fieldPath: string; reason: string }[] {
  return SPEC_RULES.map((r) => ({
    rule: r.cel,
    message: r.message,
    fieldPath: `.${r.field}`,
    reason: 'FieldValueInvalid',
  }));
}

/**
 * A transition rule: CEL over `self` and `oldSelf` (the stored value at the same node), which the
 * API server runs only on updates, and only where the old value exists. Written twice as well.
 */
export interface TransitionRule {
  /** The schema node, relative to spec, that carries the rule. */
  node: string;
  /** The field the error names, relative to the node; the node itself when absent. */
  fieldPath?: string;
  message: string;
  cel: string;
  holds(spec: SpecFields, old: SpecFields): boolean;
}

const unchanged = (node: string, why: string): TransitionRule => ({
  node,
  message: `${node} cannot change on a live cluster: ${why}`,
  cel: 'self == oldSelf',
  holds: (s, o) => deepEqual(pick(s, node), pick(o, node)),
});

function pick(spec: SpecFields, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], spec);
}

// Kubernetes compares quantities by value: `1Gi` and `1024Mi` are the same size.
const sizeCel = (v: string) => `quantity(string(${v}.size))`;

export const TRANSITION_RULES: readonly TransitionRule[] = [
  unchanged(
    'basePort',
    `every node's port and bus port (basePort + i, + ${BUS_PORT_OFFSET}) are fixed in nodes.conf and announced to the other nodes`,
  ),
  unchanged(
    'hostNetwork',
    "every node's address is fixed in nodes.conf and announced to the other nodes, and the two modes give different addresses",
  ),
  unchanged(
    'persistence.enabled',
    "the nodes' data would be lost (turning it off) or missing from the new claims (turning it on); create a new cluster and migrate",
  ),
  {
    node: 'persistence',
    fieldPath: 'storageClass',
    message:
      "persistence.storageClass cannot change on a live cluster: each node's claim was provisioned by its class, and a claim's class cannot change",
    cel: '!self.enabled || (has(self.storageClass) == has(oldSelf.storageClass) && (!has(self.storageClass) || self.storageClass == oldSelf.storageClass))',
    holds: (s, o) => !s.persistence.enabled || s.persistence.storageClass === o.persistence.storageClass,
  },
  {
    node: 'persistence',
    fieldPath: 'size',
    message: 'persistence.size may only grow: a PersistentVolumeClaim can be expanded, never shrunk',
    cel: `!self.enabled || ${sizeCel('self')}.compareTo(${sizeCel('oldSelf')}) >= 0`,
    holds: (s, o) => !s.persistence.enabled || compareQuantities(s.persistence.size, o.persistence.size) >= 0,
  },
];

/** The transition rules as the CRD declares them, by schema node (relative to spec). */
export function transitionValidations(): Map<string, { rule: string; message: string; reason: string; fieldPath?: string }[]> {
  const byNode = new Map<string, { rule: string; message: string; reason: string; fieldPath?: string }[]>();
  for (const r of TRANSITION_RULES) {
    const declared = {
      rule: r.cel,
      message: r.message,
      reason: 'FieldValueForbidden',
      ...(r.fieldPath ? { fieldPath: `.${r.fieldPath}` } : {}),
    };
    byNode.set(r.node, [...(byNode.get(r.node) ?? []), declared]);
  }
  return byNode;
}
