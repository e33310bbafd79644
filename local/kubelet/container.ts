// One container of a Pod on the local kubelet: what the Pod worker keeps for it, and the parts of
// its life that are decisions rather than I/O: its probes, its status, and what an exit makes of
// it (done, or waiting in CrashLoopBackOff).
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { ContainerConfigError, type ObjectLookup, type PathMapping } from './command.js';
import { crashesAfterExit, restartDelay, shouldRestart, type BackoffPolicy, type RestartPolicy } from './backoff.js';
import { initialProbeState, probeTiming, type ProbeKind, type ProbeState, type ProbeTiming } from './probe.js';
import type { ContainerProcess } from './processes.js';
import { isRunning, isTerminated, timestamp, type ContainerState, type ContainerStatusJson, type TerminatedState } from './status.js';
import type { ConfigMapData, SecretData, VolumeSource } from './volumes.js';

export interface ProbeRuntime {
  kind: ProbeKind;
  probe: V1Probe;
  timing: ProbeTiming;
  state: ProbeState;
  inFlight: boolean;
}

export interface ContainerRuntime {
  spec: V1Container;
  init: boolean;
  state: ContainerState;
  lastState: Partial<TerminatedState>;
  restartCount: number;
  crashes: number;
  /** Set while waiting to (re)start: when to start. */
  startAt?: number;
  starting: boolean;
  proc?: ContainerProcess;
  startedAtMs?: number;
  containerID?: string;
  env: Record<string, string>;
  cwd: string;
  mappings: PathMapping[];
  probes: ProbeRuntime[];
  /** The kubelet itself is stopping the process (liveness failure, deletion). */
  killing?: string;
  /** Will never run again. */
  done: boolean;
}

/** A container not started yet; `cwd` until its working directory is known. */
export function newContainer(pod: V1Pod, spec: V1Container, init: boolean, cwd: string): ContainerRuntime {
  return {
    spec,
    init,
    state: { waiting: { reason: 'ContainerCreating' } },
    ...carriedOver(pod, spec.name, init),
    crashes: 0,
    starting: false,
    env: {},
    cwd,
    mappings: [],
    probes: [],
    done: false,
  };
}

/**
 * A Pod that already ran (before the kubelet restarted, as after a node reboot) keeps counting:
 * its next start is a restart, the previous run ended for an unknown reason.
 */
function carriedOver(pod: V1Pod, name: string, init: boolean): { restartCount: number; lastState: Partial<TerminatedState> } {
  const statuses = (init ? pod.status?.initContainerStatuses : pod.status?.containerStatuses) ?? [];
  const previous = statuses.find((s) => s.name === name);
  if (!previous?.containerID) return { restartCount: 0, lastState: {} };
  const startedAt = previous.state?.running?.startedAt as Date | string | undefined;
  const now = Date.now();
  return {
    restartCount: previous.restartCount ?? 0,
    lastState: {
      terminated: {
        exitCode: 255,
        reason: 'Unknown',
        message: 'the kubelet restarted',
        startedAt: timestamp(startedAt ? new Date(startedAt).getTime() : now),
        finishedAt: timestamp(now),
        containerID: previous.containerID,
      },
    },
  };
}

/** The container's probes as of its start; a bad probe field is a config error naming it. */
export function probesFor(spec: V1Container, startedAt: number): ProbeRuntime[] {
  const out: ProbeRuntime[] = [];
  const add = (kind: ProbeKind, probe: V1Probe | undefined): void => {
    if (!probe) return;
    let timing: ProbeTiming;
    try {
      timing = probeTiming(probe, kind);
    } catch (err) {
      throw new ContainerConfigError(`container ${spec.name}: ${kind}Probe: ${err instanceof Error ? err.message : String(err)}`);
    }
    out.push({ kind, probe, timing, state: initialProbeState(kind, timing, startedAt), inFlight: false });
  };
  add('startup', spec.startupProbe);
  add('liveness', spec.livenessProbe);
  add('readiness', spec.readinessProbe);
  return out;
}

export function containerStatus(c: ContainerRuntime): ContainerStatusJson {
  const running = isRunning(c.state);
  const startup = c.probes.find((p) => p.kind === 'startup');
  const readiness = c.probes.find((p) => p.kind === 'readiness');
  const started = running && (!startup || startup.state.result === 'success');
  const ready = started && (!readiness || readiness.state.result === 'success');
  const status: ContainerStatusJson = {
    name: c.spec.name,
    image: c.spec.image ?? '',
    imageID: '',
    ready: c.init ? isTerminated(c.state) && c.state.terminated.exitCode === 0 : ready,
    started: c.init ? running : started,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState,
  };
  if (c.containerID) status.containerID = c.containerID;
  return status;
}

export interface ContainerExit {
  exitCode: number;
  reason: string;
  message?: string;
  startedAtMs: number;
}

export interface RestartRules {
  policy: RestartPolicy;
  backoff: BackoffPolicy;
  /** The Pod is being deleted or the kubelet is stopping: nothing restarts. */
  ending: boolean;
  /** `name_namespace(uid)`, as the kubelet's back-off message names the Pod. */
  podName: string;
}

/**
 * Records an exit on the container: terminated for good (a finished init container, an ending Pod,
 * a restart policy that says no), or waiting in CrashLoopBackOff until `startAt`. Returns the
 * back-off message when it will restart.
 */
export function recordExit(c: ContainerRuntime, exit: ContainerExit, rules: RestartRules, now: number): string | undefined {
  const terminated: TerminatedState = {
    terminated: {
      exitCode: exit.exitCode,
      reason: exit.reason,
      ...(exit.message ? { message: exit.message } : {}),
      startedAt: timestamp(exit.startedAtMs),
      finishedAt: timestamp(now),
      ...(c.containerID ? { containerID: c.containerID } : {}),
    },
  };
  c.probes = [];
  const initOk = c.init && exit.exitCode === 0;
  if (rules.ending || initOk || !shouldRestart(rules.policy, exit.exitCode)) {
    c.state = terminated;
    c.done = true;
    return undefined;
  }
  c.crashes = crashesAfterExit(c.crashes, now - exit.startedAtMs, rules.backoff);
  const delay = restartDelay(c.crashes, rules.backoff);
  c.lastState = terminated;
  c.state = {
    waiting: {
      reason: 'CrashLoopBackOff',
      message: `back-off ${formatDelay(delay)} restarting failed container=${c.spec.name} pod=${rules.podName}`,
    },
  };
  c.startAt = now + delay;
  return `Back-off restarting failed container ${c.spec.name} in pod ${rules.podName}`;
}

function formatDelay(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m${s}s`;
}

/** The ConfigMaps and Secrets the container's env and envFrom name, read once for its start. */
export async function envObjects(pod: V1Pod, c: V1Container, volumes: VolumeSource): Promise<ObjectLookup> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const cms = new Map<string, ConfigMapData | undefined>();
  const secrets = new Map<string, SecretData | undefined>();
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef?.name) cms.set(from.configMapRef.name, undefined);
    if (from.secretRef?.name) secrets.set(from.secretRef.name, undefined);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef?.name) cms.set(e.valueFrom.configMapKeyRef.name, undefined);
    if (e.valueFrom?.secretKeyRef?.name) secrets.set(e.valueFrom.secretKeyRef.name, undefined);
  }
  for (const name of cms.keys()) cms.set(name, await volumes.configMap(namespace, name));
  for (const name of secrets.keys()) secrets.set(name, await volumes.secret(namespace, name));
  return { configMap: (name) => cms.get(name), secret: (name) => secrets.get(name) };
}
