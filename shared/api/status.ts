// The RedisCluster status: what the operator observed, and what /scale and kubectl read.
import { z } from 'zod';

export const PHASES = [
  'Pending',
  'Creating',
  'Ready',
  'Scaling',
  'Resharding',
  'Updating',
  'Healing',
  'Degraded',
  'Paused',
  'Failed',
  'Deleting',
] as const;
export type Phase = (typeof PHASES)[number];

const dateTime = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time' });
const count = z.number().int('must be a whole number').min(0, 'must be at least 0');

/** metav1.Condition, with its published bounds. */
export const conditionSchema = z.strictObject({
  type: z
    .string()
    .max(316)
    .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
    .describe('Type in CamelCase, e.g. Ready.'),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: count.optional().describe('The .metadata.generation the condition was set against.'),
  lastTransitionTime: dateTime.describe('When the status last changed.'),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .describe('A CamelCase word for the cause.'),
  message: z.string().max(32768).describe('What a human should know.'),
});
export type Condition = z.output<typeof conditionSchema>;

export const SLOT_RANGE_PATTERN = '^[0-9]{1,5}(-[0-9]{1,5})?$';

export const nodeStatusSchema = z.strictObject({
  id: z.string().min(1).max(64).describe('Redis node id.'),
  pod: z.string().max(253).describe('Pod running the node.'),
  ip: z.string().max(64),
  port: z.number().int().min(1).max(65535),
  role: z.enum(['master', 'replica']),
  masterId: z.string().max(64).optional().describe("For a replica: its master's node id."),
  slots: z
    .array(z.string().regex(new RegExp(SLOT_RANGE_PATTERN)))
    .max(16384)
    .optional()
    .describe('Slot ranges a master owns, e.g. ["0-5460"].'),
});
export type NodeStatus = z.output<typeof nodeStatusSchema>;

/** Paused: spec.paused stopped it between chunks; reconcile asks for it again once unpaused. */
export const RESHARD_STATES = ['Planned', 'Running', 'Paused', 'Completed', 'Failed', 'RolledBack'] as const;

export const slotMoveSchema = z.strictObject({
  source: z.string().max(64).describe('Node id giving the slots.'),
  target: z.string().max(64).describe('Node id receiving them.'),
  slots: z
    .array(z.string().regex(new RegExp(SLOT_RANGE_PATTERN)))
    .max(16384)
    .describe('Slot ranges in flight.'),
});

export const reshardStatusSchema = z.strictObject({
  state: z.enum(RESHARD_STATES),
  operation: z.enum(['Rebalance', 'Drain']).optional().describe('Rebalance for scale-out, Drain for scale-in.'),
  slotsDone: count.optional(),
  slotsTotal: count.optional(),
  keysMoved: count.optional(),
  progress: z.string().max(64).optional().describe('slotsDone/slotsTotal as a person reads it (the RESHARD column).'),
  currentMoves: z.array(slotMoveSchema).max(256).optional().describe('Migrations in flight.'),
  startedAt: dateTime.optional(),
  updatedAt: dateTime.optional(),
  message: z.string().max(32768).optional(),
});
export type ReshardStatus = z.output<typeof reshardStatusSchema>;

export const rollingUpdateSchema = z.strictObject({
  updated: count.describe("Pods whose restart hash is the current spec's."),
  total: count.describe('Pods of the cluster.'),
  progress: z.string().max(64).describe('updated/total as a person reads it (the UPDATING column).'),
});
export type RollingUpdateStatus = z.output<typeof rollingUpdateSchema>;

export const statusSchema = z
  .strictObject({
    phase: z.enum(PHASES).optional(),
    conditions: z
      .array(conditionSchema)
      .max(32)
      .check((ctx) => {
        const seen = new Set<string>();
        for (const [i, condition] of ctx.value.entries()) {
          if (seen.has(condition.type)) {
            ctx.issues.push({
              code: 'custom',
              input: condition.type,
              path: [i, 'type'],
              message: `repeats condition type ${condition.type}`,
            });
          }
          seen.add(condition.type);
        }
      })
      .optional()
      .meta({
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    observedGeneration: count.optional().describe('The .metadata.generation last acted on.'),
    readyMasters: count.optional(),
    readyReplicas: count.optional(),
    nodes: z.array(nodeStatusSchema).max(1000).optional(),
    reshard: reshardStatusSchema.optional(),
    rollingUpdate: rollingUpdateSchema.optional().describe('How many Pods run the current spec: a rolling update restarts the others.'),
    lastScaleTime: dateTime.optional().describe('When autoscaling last changed the spec.'),
    replicas: count.optional().describe('Ready masters, for the scale subresource.'),
    selector: z.string().max(1024).optional().describe('Label selector of the nodes, for the scale subresource.'),
  })
  .describe('What the operator observed.');
export type RedisClusterStatus = z.output<typeof statusSchema>;
