// What the operator tells a person about a RedisCluster: the condition types it sets in
// status.conditions with the reasons each can carry, and the reasons of the Kubernetes Events it
// records on the cluster (`kubectl describe`). Both are part of the API a person reads, so they sit
// beside the status schema and docs/api.md lists them. Each reason implies one status (or one
// Event type), so the status is looked up here rather than stated again where a condition is set.
import type { Condition } from './status.js';

/** The operator always knows: it never sets Unknown. */
export type ConditionStatus = 'True' | 'False';
/** An Event's `type`, as Kubernetes has it. */
export type KubernetesEventType = 'Normal' | 'Warning';
/** The function that sets a condition or records an Event. */
export type OperatorFunction = 'reconcile' | 'reshard' | 'scale';

interface ReasonEntry {
  status: ConditionStatus;
  description: string;
}

interface ConditionEntry {
  description: string;
  setBy: readonly OperatorFunction[];
  reasons: Readonly<Record<string, ReasonEntry>>;
}

interface EventEntry {
  type: KubernetesEventType;
  recordedBy: OperatorFunction;
  description: string;
}

/** What stops reconcile until a person acts: Ready and Progressing are False with it, and a Warning says so. */
const BLOCKERS = {
  InvalidSpec: 'the spec breaks a rule the operator checks (the message says which); nothing is changed until it is fixed',
  SecretMissing: 'the password Secret, or its key, does not exist; the nodes are not touched until it does',
  TLSSecretInvalid:
    "the spec.tls Secret is missing, lacks tls.crt, tls.key or ca.crt, or holds a key that is not the certificate's, an expired certificate or one ca.crt did not sign (the message names the Secret and which); the nodes keep the certificate they have and nothing is touched until it is fixed",
  Unschedulable: 'a Pod of the cluster cannot be placed on any node',
  AllNodesLost:
    'every node of the formed cluster came back without its data (all its Pods gone at once, nothing kept on disk); nothing is formed until spec.allowDataLoss is set',
} as const;
export type BlockerReason = keyof typeof BLOCKERS;

/** The phases in which reconcile is still at work: Ready is False and Progressing True with them. */
const AT_WORK = {
  Resharding: 'slots are moving between masters',
  Updating: 'Pods are restarted one at a time for a new spec (rolling update), masters after a failover to their replica',
  Scaling: 'Pods are being added or removed for a new masters or replicas count',
  Healing: 'Pods are not all ready, or a replica or master is missing; reconcile is repairing it',
  Degraded: 'some slots are not served, or a node is failing or unreachable',
} as const;

const withStatus = <R extends Record<string, string>>(status: ConditionStatus, reasons: R) =>
  Object.fromEntries(Object.entries(reasons).map(([reason, description]) => [reason, { status, description }])) as {
    [K in keyof R]: { status: ConditionStatus; description: R[K] };
  };

/** The types the operator sets; the schema does not close the list, so others (a person's) may sit beside them. */
export const CONDITIONS = {
  Ready: {
    description: 'The cluster serves every slot with the masters and replicas the spec asks for.',
    setBy: ['reconcile'],
    reasons: {
      ClusterReady: { status: 'True', description: 'every master and replica is up and all 16384 slots are served' },
      Creating: { status: 'False', description: 'the Pods are starting; the slots are not assigned yet' },
      ...withStatus('False', AT_WORK),
      ...withStatus('False', BLOCKERS),
      Paused: { status: 'False', description: 'spec.paused is true and some node or Pod is not as the spec asks' },
    },
  },
  Progressing: {
    description: 'Reconcile is changing the cluster towards the spec.',
    setBy: ['reconcile'],
    reasons: {
      Reconciled: { status: 'False', description: 'the cluster is as the spec asks' },
      Creating: { status: 'True', description: 'the Pods are starting; the slots are not assigned yet' },
      ...withStatus('True', AT_WORK),
      ...withStatus('False', BLOCKERS),
      Paused: { status: 'False', description: 'spec.paused is true: nothing changes the nodes or their Pods' },
    },
  },
  Degraded: {
    description: 'Some slots are not served, or a node is failing or unreachable; set once the cluster is formed.',
    setBy: ['reconcile'],
    reasons: {
      ClusterDegraded: { status: 'True', description: 'the message lists the problems, or how many slots are assigned' },
      ClusterHealthy: { status: 'False', description: 'every slot is served' },
    },
  },
  SlotsAssigned: {
    description: 'All 16384 slots belong to a master that is not gone for good; set once the cluster is formed.',
    setBy: ['reconcile'],
    reasons: {
      AllSlotsAssigned: { status: 'True', description: 'every slot has an owner' },
      SlotsUncovered: { status: 'False', description: 'some slots have no owner, or only one whose master and replicas are all gone' },
    },
  },
  Resharding: {
    description: 'Slots are to move, or are moving, between masters; owned by the reshard function once it starts.',
    setBy: ['reconcile', 'reshard'],
    reasons: {
      Requested: { status: 'True', description: 'reconcile asked for a reshard; the reshard function has not started it yet' },
      ScaleOut: { status: 'True', description: 'new masters are being filled with slots' },
      ScaleIn: { status: 'True', description: 'masters to be removed are being drained over the others' },
      Rebalance: { status: 'True', description: 'the slots are being evened out over the masters' },
      ReshardCompleted: { status: 'False', description: 'the slots are where the spec wants them' },
    },
  },
  RollingUpdate: {
    description: 'Pods run an older spec than the current one and are restarted one at a time; set once the cluster is formed.',
    setBy: ['reconcile'],
    reasons: {
      Updating: { status: 'True', description: 'the message says how many Pods run the current spec' },
      ReplicaNeeded: {
        status: 'True',
        description:
          'a master without replicas cannot fail over and, without persistence, would come back empty: it is left as it is (the message says which)',
      },
      Complete: { status: 'False', description: 'every Pod runs the current spec' },
    },
  },
  DataLoss: {
    description:
      'Keys were lost: slots given back empty with spec.allowDataLoss, or every node came back without its data; kept as history.',
    setBy: ['reconcile'],
    reasons: {
      SlotsRecoveredEmpty: { status: 'True', description: 'the message names the slots that lost their keys' },
      AllNodesLost: {
        status: 'True',
        description:
          'every node came back without its data; the message says whether an empty cluster was formed (spec.allowDataLoss) or what to do',
      },
    },
  },
  ClaimsResized: {
    description: "The nodes' claims have persistence.size; set once a claim could not grow.",
    setBy: ['reconcile'],
    reasons: {
      ExpansionNotAllowed: { status: 'False', description: "a claim's StorageClass does not allow volume expansion; it keeps its size" },
      ClaimsAtSize: { status: 'True', description: 'every claim asks for persistence.size' },
    },
  },
  AclApplied: {
    description: 'The users of spec.acl.users are defined on every node (Redis Cluster does not share ACLs); set once spec.acl is.',
    setBy: ['reconcile'],
    reasons: {
      UsersApplied: { status: 'True', description: 'every user is on every node with its rules and passwords' },
      RuleRefused: {
        status: 'False',
        description: "Redis refused a user's rules (the message names the user and quotes Redis); the other users are applied",
      },
      UserSecretMissing: {
        status: 'False',
        description: "a user's password Secret, or its key, does not exist; that user is left as the nodes have it",
      },
    },
  },
} as const satisfies Record<string, ConditionEntry>;

export type ConditionType = keyof typeof CONDITIONS;
export type ConditionReason<T extends ConditionType = ConditionType> = T extends ConditionType
  ? keyof (typeof CONDITIONS)[T]['reasons'] & string
  : never;

/** The condition types, for reading a status by name. */
export const CONDITION_TYPES = Object.fromEntries(Object.keys(CONDITIONS).map((type) => [type, type])) as {
  readonly [T in ConditionType]: T;
};

/** The condition `type` with `reason`, at the status the catalog gives that reason. */
export function clusterCondition<T extends ConditionType>(
  type: T,
  reason: ConditionReason<T>,
  message: string,
  observedGeneration: number,
): Omit<Condition, 'lastTransitionTime'> {
  const entry = (CONDITIONS[type].reasons as Readonly<Record<string, ReasonEntry>>)[reason]!;
  return { type, status: entry.status, reason, message, observedGeneration };
}

/** The reasons of the Events the functions record on a RedisCluster. */
export const EVENT_REASONS = {
  ClusterCreated: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: 'the cluster was formed: the masters own the slots and the replicas follow them',
  },
  ClusterReady: { type: 'Normal', recordedBy: 'reconcile', description: 'the cluster became Ready once it was created' },
  Recovered: { type: 'Normal', recordedBy: 'reconcile', description: 'the cluster is Ready again' },
  Degraded: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description: 'the cluster stopped being Ready other than for a reshard or a scale; the message says why',
  },
  InvalidSpec: { type: 'Warning', recordedBy: 'reconcile', description: BLOCKERS.InvalidSpec },
  SecretMissing: { type: 'Warning', recordedBy: 'reconcile', description: BLOCKERS.SecretMissing },
  TLSSecretInvalid: { type: 'Warning', recordedBy: 'reconcile', description: BLOCKERS.TLSSecretInvalid },
  PasswordRotating: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description:
      'spec.passwordSecret changed: one phase of the switch done on every node (new password added, masterauth changed); both passwords work meanwhile',
  },
  PasswordRotated: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: 'every node accepts only the password spec.passwordSecret now holds; connections opened with the old one stay open',
  },
  TLSBusSwitched: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description:
      'spec.tls added or removed: every node serves both protocols, and the cluster bus and replication switched on all of them at once; the nodes are then rolled to TLS only (or plaintext only) on their port',
  },
  CertificateReloaded: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: 'the nodes loaded a changed spec.tls Secret without a restart; new connections get the new certificate',
  },
  Unschedulable: { type: 'Warning', recordedBy: 'reconcile', description: BLOCKERS.Unschedulable },
  AllNodesLost: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description:
      'every node of the formed cluster came back without its data; with spec.allowDataLoss an empty cluster is formed, else nothing is',
  },
  SlotsLost: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description:
      "a shard's master and replicas are all gone: its slots stay unserved until the nodes come back or spec.allowDataLoss is set",
  },
  SlotsRecoveredEmpty: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description: 'slots whose master and replicas were all gone were given back empty (spec.allowDataLoss)',
  },
  RuleRefused: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description: "Redis refused an ACL user's rules; the message says which and why",
  },
  UserSecretMissing: { type: 'Warning', recordedBy: 'reconcile', description: "an ACL user's password Secret, or its key, does not exist" },
  NodeAdded: { type: 'Normal', recordedBy: 'reconcile', description: 'a node became the replica of a master' },
  Failover: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: 'a replica was promoted in place of its failed master, or of a master about to restart for a new spec',
  },
  RollingUpdate: { type: 'Normal', recordedBy: 'reconcile', description: 'a Pod was restarted for the new spec' },
  SurgeUnschedulable: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description:
      "no machine took the extra replica a shard's roll adds first: the shard rolls without it, one copy of its keys while each of its Pods restarts",
  },
  RollingUpdateBlocked: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description: 'a master without replicas and without persistence cannot restart without losing its keys; it is left as it is',
  },
  NodeForgotten: { type: 'Normal', recordedBy: 'reconcile', description: 'every node forgot a node that is gone' },
  NodeRemoved: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: 'a node left the cluster (a surplus replica, or a shard a reshard drained)',
  },
  PrimaryMoved: {
    type: 'Normal',
    recordedBy: 'reconcile',
    description: "a replica took over from its master (graceful failover) because the master's machine held more masters than it must",
  },
  ClaimsExpanded: { type: 'Normal', recordedBy: 'reconcile', description: "persistence.size grew: the nodes' claims were asked to grow" },
  ClaimExpansionRefused: {
    type: 'Warning',
    recordedBy: 'reconcile',
    description: "persistence.size grew but the claims' StorageClass does not allow volume expansion; they keep their size",
  },
  ReshardStarted: { type: 'Normal', recordedBy: 'reshard', description: 'a reshard began moving slots' },
  ReshardCompleted: { type: 'Normal', recordedBy: 'reshard', description: 'a reshard moved its last slot' },
  ReshardStalled: {
    type: 'Warning',
    recordedBy: 'reshard',
    description: 'a chunk of a reshard moved nothing; the message has the errors, and the chunk is retried',
  },
  Autoscaled: { type: 'Normal', recordedBy: 'scale', description: 'an alert changed spec.masters or spec.replicas' },
  AutoscalingDisabled: { type: 'Normal', recordedBy: 'scale', description: 'an alert was ignored: spec.autoscaling.enabled is false' },
  AutoscaleNoAction: {
    type: 'Normal',
    recordedBy: 'scale',
    description: 'an alert was ignored: no action is configured for its alertname',
  },
  AutoscaleInvalidAlert: {
    type: 'Warning',
    recordedBy: 'scale',
    description: 'an alert was ignored: its scale_count annotation is not a usable count',
  },
  AutoscaleCooldown: {
    type: 'Normal',
    recordedBy: 'scale',
    description: 'an alert was ignored: the last scale is more recent than cooldownSeconds',
  },
  AutoscaleDeferred: {
    type: 'Normal',
    recordedBy: 'scale',
    description:
      'an alert was deferred: a reshard, a repair or the last spec change is still under way; the Broker delivers it again within seconds',
  },
  AutoscaleAtBound: {
    type: 'Normal',
    recordedBy: 'scale',
    description: 'an alert was ignored: the count is already at its min or max bound',
  },
} as const satisfies Record<string, EventEntry>;

export type EventReason = keyof typeof EVENT_REASONS;
