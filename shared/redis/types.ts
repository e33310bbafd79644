// The one typed model of a Redis Cluster that the topology parser produces, the planner reasons
// about and the executor acts on. Pure data: no I/O, no ioredis types.

export const SLOT_COUNT = 16384;

/** Inclusive range of hash slots, e.g. {start: 0, end: 5460}. */
export interface SlotRange {
  start: number;
  end: number;
}

export type NodeFlag = 'myself' | 'master' | 'slave' | 'fail?' | 'fail' | 'handshake' | 'noaddr' | 'nofailover' | 'noflags';

/** A slot this node has open: `[s->-id]` (migrating to id) or `[s-<-id]` (importing from id). */
export interface OpenSlot {
  slot: number;
  state: 'migrating' | 'importing';
  /** The peer: the target when migrating, the source when importing. */
  peerId: string;
}

/** One line of `CLUSTER NODES` as seen by one observer. */
export interface ClusterNodeView {
  id: string;
  ip: string;
  port: number;
  busPort: number;
  hostname?: string;
  flags: NodeFlag[];
  role: 'master' | 'replica';
  /** Master id for replicas; undefined for masters. */
  masterId?: string;
  pingSent: number;
  pongReceived: number;
  configEpoch: number;
  linkState: 'connected' | 'disconnected';
  slots: SlotRange[];
  /** Only present on the observer's own (`myself`) line. */
  openSlots: OpenSlot[];
}

/** What one reachable node says about the cluster, plus its own INFO facts. */
export interface NodeReport {
  /** Address the operator used to reach the node. */
  address: Endpoint;
  /** The node's own id (from its `myself` line). */
  myId: string;
  /** Its full `CLUSTER NODES` view. */
  nodes: ClusterNodeView[];
  clusterState: 'ok' | 'fail';
  clusterInfo: Record<string, string>;
  /** `INFO replication` facts (role, master_link_status, master_sync_in_progress, offsets). */
  replication: Record<string, string>;
  /** Number of keys (DBSIZE). */
  keys: number;
}

export interface Endpoint {
  ip: string;
  port: number;
}

/**
 * A node the operator wants in the cluster: the Pod that runs it, where it listens and which failure
 * domain (host label) it sits in. `name` is stable (the Pod name) while ip may change.
 */
export interface DesiredNode {
  name: string;
  ip: string;
  port: number;
  busPort: number;
  /** Failure domain, e.g. the value of `kubernetes.io/hostname`. */
  domain: string;
}

/** A move of `slots` from the master `sourceId` to the master `targetId`. */
export interface SlotMove {
  sourceId: string;
  targetId: string;
  slots: SlotRange[];
}

/** The initial layout of a new cluster. */
export interface CreatePlan {
  masters: { node: string; slots: SlotRange[] }[];
  replicas: { node: string; masterNode: string }[];
}

/**
 * A reshard plan: waves of moves; within a wave no node appears in two moves, so the moves of a
 * wave can run in parallel.
 */
export interface ReshardPlan {
  moves: SlotMove[];
  waves: SlotMove[][];
  /** Masters that end with no slot (scale-in). */
  drained: string[];
}

export interface ReplicaPlan {
  /** New replicas to attach: node name -> master id. */
  attach: { node: string; masterId: string }[];
  /** Replica ids to remove. */
  remove: string[];
}

/** One problem the health check found; `code` is stable for conditions and tests. */
export interface ClusterProblem {
  code:
    | 'unreachable'
    | 'state-not-ok'
    | 'views-disagree'
    | 'slots-uncovered'
    | 'slots-overlap'
    | 'open-slot'
    | 'epoch-collision'
    | 'masters-mismatch'
    | 'replica-missing'
    | 'replica-excess'
    | 'replica-not-synced'
    | 'node-failing'
    | 'ghost-node'
    | 'handshake'
    | 'address-mismatch'
    | 'anti-affinity';
  message: string;
  nodeId?: string;
  slot?: number;
  /** Slots whose master and every replica are gone for good (flagged fail or replaced), not merely down. */
  dataLost?: true;
}

/** What a mutating engine step did, for status, Events and logs. */
export interface EngineAction {
  kind:
    | 'meet'
    | 'add-slots'
    | 'set-config-epoch'
    | 'replicate'
    | 'slot-moved'
    | 'slot-resumed'
    | 'forget'
    | 'reset'
    | 'failover'
    | 'slots-recovered-empty'
    | 'node-removed';
  message: string;
  nodeId?: string;
  slots?: SlotRange[];
  keys?: number;
}

export interface EngineResult {
  actions: EngineAction[];
  problems: ClusterProblem[];
  /** True when the cluster matches the desired state and the health check passes. */
  done: boolean;
}

/** What one step of an engine operation did and what it left. */
export type StepOutcome = Pick<EngineResult, 'actions' | 'problems'>;
