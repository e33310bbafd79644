// Pod status from the kubelet's view of its containers, pure: phase rules as the kubelet's
// getPhase, conditions with stable transition times, container statuses in API (JSON) form.
import { findCondition } from '../../shared/kube/conditions.js';
import type { RestartPolicy } from './backoff.js';

export interface WaitingState {
  waiting: { reason: string; message?: string };
}
export interface RunningState {
  running: { startedAt: string };
}
export interface TerminatedInfo {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
  containerID?: string;
}
export interface TerminatedState {
  terminated: TerminatedInfo;
}
export type ContainerState = WaitingState | RunningState | TerminatedState;

export interface ContainerStatusJson {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: Partial<TerminatedState>;
}

export interface ConditionJson {
  type: string;
  status: 'True' | 'False';
  lastProbeTime: null;
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface PodStatusJson {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  conditions: ConditionJson[];
  hostIP: string;
  hostIPs: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime: string;
  qosClass: string;
  initContainerStatuses?: ContainerStatusJson[];
  containerStatuses: ContainerStatusJson[];
  reason?: string;
  message?: string;
}

/** Kubernetes timestamps have second precision. */
export const timestamp = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export const isRunning = (s: ContainerState): s is RunningState => 'running' in s;
export const isTerminated = (s: ContainerState): s is TerminatedState => 'terminated' in s;
export const isWaiting = (s: ContainerState): s is WaitingState => 'waiting' in s;

/** The kubelet's getPhase for the regular containers of an initialised Pod. */
export function podPhase(
  containers: readonly ContainerStatusJson[],
  restartPolicy: RestartPolicy,
  initialized: boolean,
): PodStatusJson['phase'] {
  if (!initialized) return 'Pending';
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of containers) {
    if (isRunning(c.state)) running++;
    else if (isTerminated(c.state)) {
      stopped++;
      if (c.state.terminated.exitCode === 0) succeeded++;
    } else if (c.lastState.terminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return restartPolicy === 'OnFailure' ? 'Running' : 'Failed';
  }
  return 'Pending';
}

export interface PodSnapshot {
  hostIP: string;
  podIP?: string;
  startTime: number;
  initialized: boolean;
  restartPolicy: RestartPolicy;
  qosClass: string;
  initContainers: ContainerStatusJson[];
  containers: ContainerStatusJson[];
}

function condition(
  type: string,
  ok: boolean,
  now: number,
  previous: readonly ConditionJson[] | undefined,
  reason?: string,
  message?: string,
): ConditionJson {
  const status = ok ? 'True' : 'False';
  const before = findCondition(previous, type);
  const lastTransitionTime = before && before.status === status ? before.lastTransitionTime : timestamp(now);
  const out: ConditionJson = { type, status, lastProbeTime: null, lastTransitionTime };
  if (!ok && reason) out.reason = reason;
  if (!ok && message) out.message = message;
  return out;
}

export function buildPodStatus(pod: PodSnapshot, previousConditions: readonly ConditionJson[] | undefined, now: number): PodStatusJson {
  const phase = podPhase(pod.containers, pod.restartPolicy, pod.initialized);
  const notReady = pod.containers.filter((c) => !c.ready).map((c) => c.name);
  const containersReady = notReady.length === 0 && phase === 'Running';
  const notReadyMessage = `containers with unready status: [${notReady.join(' ')}]`;
  const pendingInit = pod.initContainers.filter((c) => !(isTerminated(c.state) && c.state.terminated.exitCode === 0)).map((c) => c.name);
  const conditions = [
    condition('PodReadyToStartContainers', pod.podIP !== undefined, now, previousConditions),
    condition(
      'Initialized',
      pod.initialized,
      now,
      previousConditions,
      'ContainersNotInitialized',
      `containers with incomplete status: [${pendingInit.join(' ')}]`,
    ),
    condition('Ready', containersReady, now, previousConditions, 'ContainersNotReady', notReadyMessage),
    condition('ContainersReady', containersReady, now, previousConditions, 'ContainersNotReady', notReadyMessage),
    condition('PodScheduled', true, now, previousConditions),
  ];
  const status: PodStatusJson = {
    phase,
    conditions,
    hostIP: pod.hostIP,
    hostIPs: [{ ip: pod.hostIP }],
    startTime: timestamp(pod.startTime),
    qosClass: pod.qosClass,
    containerStatuses: pod.containers,
  };
  if (pod.podIP) {
    status.podIP = pod.podIP;
    status.podIPs = [{ ip: pod.podIP }];
  }
  if (pod.initContainers.length > 0) status.initContainerStatuses = pod.initContainers;
  return status;
}

/** Kubernetes' QoS class from requests and limits. */
export function qosClass(
  containers: readonly { resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> } }[],
): string {
  let anySet = false;
  let guaranteed = true;
  for (const c of containers) {
    const limits = c.resources?.limits ?? {};
    const requests = c.resources?.requests ?? {};
    if (Object.keys(limits).length || Object.keys(requests).length) anySet = true;
    for (const r of ['cpu', 'memory']) {
      const limit = limits[r];
      const request = requests[r] ?? limit;
      if (limit === undefined || String(request) !== String(limit)) guaranteed = false;
    }
  }
  if (!anySet) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
