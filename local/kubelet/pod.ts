// One Pod on the local kubelet: its sandbox (address, directories, volumes), its containers as
// host processes, their probes and restarts, and the status it reports.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import {
  ContainerConfigError,
  mappingsFor,
  planProcess,
  resolveEnv,
  rewritePaths,
  wrapperScripts,
  type PathMapping,
  type ImageStore,
  type PodFacts,
} from './command.js';
import { exitCodeOf, restartPolicyOf, terminationReason, type BackoffPolicy, type RestartPolicy } from './backoff.js';
import { graceAfterHook, MIN_GRACE_AFTER_HOOK_MS, preStopFailureMessage, runPreStop } from './pre-stop.js';
import { containerStatus, envObjects, newContainer, probesFor, recordExit, type ContainerRuntime } from './container.js';
import { probeDue, recordProbe } from './probe.js';
import { runProbe } from './probe-run.js';
import { automounts, mountServiceAccount, SERVICE_ACCOUNT_MOUNT, type ServiceAccountSource } from './service-account.js';
import { startProcess, stopProcess, type ContainerProcess } from './processes.js';
import { buildPodStatus, isTerminated, qosClass, timestamp, type ConditionJson, type PodStatusJson } from './status.js';
import { hasSyncedVolumes, materialiseVolumes, podDirName, VolumeError, volumeDirs, type VolumeSource } from './volumes.js';

/** What every Pod worker shares with the kubelet. */
export interface KubeletContext {
  dataDir: string;
  backoff: BackoffPolicy;
  redisServerBinary: string;
  redisCliBinary: string;
  exporterBinary?: string;
  images?: ImageStore;
  /** The API server's URL, for the kubeconfig every container gets (the platform's in-cluster config). */
  apiUrl: string;
  volumes: VolumeSource;
  serviceAccounts: ServiceAccountSource;
  /** How often ConfigMap and Secret volumes are re-synced. */
  volumeSyncMs: number;
  writeStatus(pod: V1Pod, status: PodStatusJson): Promise<void>;
  /** A Pod Event, as the kubelet reports starts, kills, probe failures and back-offs. */
  event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
  log(message: string): void;
}

const SETUP_RETRY_MS = 2000;

const podKey = (pod: V1Pod): string => `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;

export class PodWorker {
  readonly key: string;
  readonly uid: string;
  readonly podDir: string;
  private readonly restartPolicy: RestartPolicy;
  private readonly startTime = Date.now();
  private readonly containers: ContainerRuntime[];
  private volumeDirs = new Map<string, string>();
  private podMappings: PathMapping[] = [];
  /** The kubeconfig naming the Pod's ServiceAccount token; none when the Pod opts out of the mount. */
  private kubeconfig?: string;
  private setupDone = false;
  private setupInFlight = false;
  private setupRun?: Promise<void>;
  private nextSetupAt = 0;
  private nextVolumeSyncAt = 0;
  private volumeSyncInFlight = false;
  private statusInFlight = false;
  private lastStatusJson?: string;
  private lastConditions?: ConditionJson[];
  private terminating?: Promise<void>;
  private stopped = false;

  constructor(
    public pod: V1Pod,
    readonly facts: PodFacts,
    private readonly ctx: KubeletContext,
  ) {
    this.key = podKey(pod);
    this.uid = pod.metadata?.uid ?? '';
    this.podDir = path.join(ctx.dataDir, 'pods', podDirName(pod));
    this.restartPolicy = restartPolicyOf(pod.spec?.restartPolicy);
    this.containers = [
      ...(pod.spec?.initContainers ?? []).map((c) => newContainer(pod, c, true, this.podDir)),
      ...(pod.spec?.containers ?? []).map((c) => newContainer(pod, c, false, this.podDir)),
    ];
  }

  get isTerminating(): boolean {
    return this.terminating !== undefined;
  }

  /** The latest object from the API server. */
  update(pod: V1Pod): void {
    this.pod = pod;
  }

  /** Called often (every tick); starts work that is due and never waits for it. */
  tick(now: number): void {
    if (this.terminating || this.stopped) return;
    if (!this.setupDone) {
      if (!this.setupInFlight && now >= this.nextSetupAt) this.setupRun = this.setup();
    } else {
      this.startDueContainers(now);
      this.runDueProbes(now);
      if (hasSyncedVolumes(this.pod) && !this.volumeSyncInFlight && now >= this.nextVolumeSyncAt) void this.syncVolumes(now);
    }
    void this.flushStatus(now);
  }

  // ---- sandbox -------------------------------------------------------------------------------

  private async setup(): Promise<void> {
    this.setupInFlight = true;
    try {
      // The addresses are reported before any container starts, so readers of the downward API
      // and of the Pod object agree.
      await this.flushStatus(Date.now());
      if (this.lastStatusJson === undefined) throw new Error('the Pod addresses are not yet reported');
      this.volumeDirs = volumeDirs(this.pod, this.podDir, path.join(this.ctx.dataDir, 'pvc'));
      const dirOf = (name: string): string | undefined => this.volumeDirs.get(name);
      const byPath = new Map<string, PathMapping>();
      for (const c of this.containers) {
        c.mappings = mappingsFor(c.spec.volumeMounts, dirOf);
        for (const m of c.mappings) if (!byPath.has(m.mountPath)) byPath.set(m.mountPath, m);
      }
      await this.mountServiceAccount(byPath);
      this.podMappings = [...byPath.values()].sort((a, b) => b.mountPath.length - a.mountPath.length);
      await fs.mkdir(path.join(this.podDir, 'bin'), { recursive: true });
      for (const [name, script] of Object.entries(wrapperScripts(this.facts.podIP, this.ctx.redisServerBinary, this.ctx.redisCliBinary))) {
        await fs.writeFile(path.join(this.podDir, 'bin', name), script, { mode: 0o755 });
      }
      await materialiseVolumes(this.pod, this.volumeDirs, this.ctx.volumes, this.facts, this.podMappings, true);
      this.nextVolumeSyncAt = Date.now() + this.ctx.volumeSyncMs;
      for (const c of this.containers) {
        c.cwd = await this.workingDir(c);
        c.startAt = Date.now();
      }
      this.setupDone = true;
      // The sandbox is ready: start the containers now rather than on the next tick.
      if (!this.terminating && !this.stopped) this.startDueContainers(Date.now());
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reason = err instanceof VolumeError ? 'ContainerCreating' : 'CreateContainerConfigError';
      for (const c of this.containers) c.state = { waiting: { reason, message } };
      this.ctx.log(`pod ${this.key}: setup failed, retrying: ${message}`);
      this.ctx.event(this.pod, 'Warning', err instanceof VolumeError ? 'FailedMount' : 'Failed', message);
      this.nextSetupAt = Date.now() + SETUP_RETRY_MS;
    } finally {
      this.setupInFlight = false;
    }
  }

  /** The token mount, into every container that does not mount something else there. */
  private async mountServiceAccount(byPath: Map<string, PathMapping>): Promise<void> {
    if (!(await automounts(this.pod, this.ctx.serviceAccounts))) return;
    let mounted: Awaited<ReturnType<typeof mountServiceAccount>>;
    try {
      mounted = await mountServiceAccount(this.pod, this.podDir, this.ctx.apiUrl, this.ctx.serviceAccounts);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new VolumeError(`MountVolume.SetUp failed for volume "kube-api-access" : failed to fetch token: ${message}`);
    }
    this.kubeconfig = mounted.kubeconfig;
    for (const c of this.containers) {
      if (c.mappings.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT)) continue;
      c.mappings = [...c.mappings, mounted.mapping].sort((a, b) => b.mountPath.length - a.mountPath.length);
    }
    if (!byPath.has(SERVICE_ACCOUNT_MOUNT)) byPath.set(SERVICE_ACCOUNT_MOUNT, mounted.mapping);
  }

  /** workingDir (mapped), else the volume mounted at /data, else the container's own directory. */
  private async workingDir(c: ContainerRuntime): Promise<string> {
    const own = path.join(this.podDir, 'containers', c.spec.name);
    await fs.mkdir(own, { recursive: true });
    const wanted = c.spec.workingDir ?? '/data';
    const mapped = rewritePaths(wanted, c.mappings);
    if (mapped !== wanted) return mapped;
    return own;
  }

  private async syncVolumes(now: number): Promise<void> {
    this.volumeSyncInFlight = true;
    try {
      await materialiseVolumes(this.pod, this.volumeDirs, this.ctx.volumes, this.facts, this.podMappings, false);
    } catch (err) {
      this.ctx.log(`pod ${this.key}: volume re-sync failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.nextVolumeSyncAt = now + this.ctx.volumeSyncMs;
      this.volumeSyncInFlight = false;
    }
  }

  // ---- containers ----------------------------------------------------------------------------

  private initDone(): boolean {
    return this.containers.every((c) => !c.init || (isTerminated(c.state) && c.state.terminated.exitCode === 0));
  }

  private startDueContainers(now: number): void {
    // Init containers run one at a time, in order; the others only after all of them succeeded.
    const pendingInit = this.containers.find((c) => c.init && !(isTerminated(c.state) && c.state.terminated.exitCode === 0));
    const candidates = pendingInit ? [pendingInit] : this.containers.filter((c) => !c.init);
    for (const c of candidates) {
      if (c.done || c.starting || c.proc || c.startAt === undefined || now < c.startAt) continue;
      void this.startContainer(c);
    }
  }

  private baseEnv(c: ContainerRuntime): Record<string, string> {
    const hostname = this.pod.spec?.hostNetwork
      ? (this.pod.spec.nodeName ?? '')
      : (this.pod.spec?.hostname ?? this.pod.metadata?.name ?? '');
    return {
      PATH: `${path.join(this.podDir, 'bin')}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
      HOME: c.cwd,
      HOSTNAME: hostname,
      // Every Pod shares the host's network: the address that is the Pod's own.
      LOCAL_POD_IP: this.facts.podIP,
      // Client libraries look for a kubeconfig before the in-cluster files: this one names the mounted token.
      ...(this.kubeconfig ? { KUBECONFIG: this.kubeconfig } : {}),
    };
  }

  private async startContainer(c: ContainerRuntime): Promise<void> {
    c.starting = true;
    const name = c.spec.name;
    try {
      const envMap = resolveEnv(this.pod, c.spec, this.facts, await envObjects(this.pod, c.spec, this.ctx.volumes));
      const entrypoint = await this.ctx.images?.pull(c.spec.image ?? '');
      const planned = planProcess({
        entrypoint,
        pod: this.pod,
        container: c.spec,
        env: envMap,
        podIP: this.facts.podIP,
        mappings: c.mappings,
        exporterBinary: this.ctx.exporterBinary,
        redisServerBinary: this.ctx.redisServerBinary,
        redisCliBinary: this.ctx.redisCliBinary,
        baseEnv: this.baseEnv(c),
      });
      if (!planned.ok) {
        c.state = { waiting: { reason: planned.reason, message: planned.message } };
        this.ctx.event(this.pod, 'Warning', 'Failed', `Error: ${planned.reason}: ${planned.message}`);
        c.startAt = undefined;
        c.done = true;
        return;
      }
      if (this.terminating || this.stopped) return;
      probesFor(c.spec, Date.now()); // bad probe fields stop the start here, with their name
      const isRestart = c.lastState.terminated !== undefined || isTerminated(c.state);
      const logDir = path.join(this.podDir, 'logs', name);
      await fs.mkdir(logDir, { recursive: true });
      const restartCount = isRestart ? c.restartCount + 1 : c.restartCount;
      const startedAtMs = Date.now();
      c.env = planned.plan.env;
      let proc: ContainerProcess;
      // An image's own absolute program path (/usr/local/bin/...) is looked up in PATH instead.
      const file =
        path.isAbsolute(planned.plan.file) && !existsSync(planned.plan.file) ? path.basename(planned.plan.file) : planned.plan.file;
      try {
        proc = await startProcess({ ...planned.plan, file, cwd: c.cwd, logFile: path.join(logDir, `${restartCount}.log`) });
      } catch (err) {
        c.restartCount = restartCount;
        this.onExit(
          c,
          128,
          'StartError',
          `failed to start ${planned.plan.file}: ${err instanceof Error ? err.message : String(err)}`,
          startedAtMs,
        );
        return;
      }
      if (this.terminating || this.stopped) {
        // The Pod ended while this container was starting.
        await stopProcess(proc, 0);
        return;
      }
      c.restartCount = restartCount;
      c.proc = proc;
      c.startedAtMs = startedAtMs;
      c.containerID = `local://${proc.pid}`;
      c.state = { running: { startedAt: timestamp(startedAtMs) } };
      c.startAt = undefined;
      c.killing = undefined;
      c.probes = probesFor(c.spec, startedAtMs);
      this.ctx.log(`pod ${this.key}: container ${name} started (pid ${proc.pid}): ${planned.plan.file} ${planned.plan.args.join(' ')}`);
      this.ctx.event(this.pod, 'Normal', 'Started', `Started container ${name}`);
      void proc.exited.then(({ code, signal }) => {
        const exitCode = exitCodeOf(code, signal);
        const message = c.killing;
        c.proc = undefined;
        this.onExit(c, exitCode, terminationReason(exitCode), message, startedAtMs);
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const reason = err instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'RunContainerError';
      c.state = { waiting: { reason, message } };
      c.startAt = Date.now() + SETUP_RETRY_MS;
      this.ctx.log(`pod ${this.key}: container ${name} cannot start: ${message}`);
      this.ctx.event(this.pod, 'Warning', 'Failed', `Error: ${message}`);
    } finally {
      c.starting = false;
    }
  }

  private onExit(c: ContainerRuntime, exitCode: number, reason: string, message: string | undefined, startedAtMs: number): void {
    this.ctx.log(`pod ${this.key}: container ${c.spec.name} exited with ${exitCode}${message ? ` (${message})` : ''}`);
    const rules = {
      policy: this.restartPolicy,
      backoff: this.ctx.backoff,
      ending: this.terminating !== undefined || this.stopped,
      podName: `${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.uid})`,
    };
    const backOff = recordExit(c, { exitCode, reason, ...(message ? { message } : {}), startedAtMs }, rules, Date.now());
    if (backOff) this.ctx.event(this.pod, 'Warning', 'BackOff', backOff);
  }

  // ---- probes --------------------------------------------------------------------------------

  private runDueProbes(now: number): void {
    for (const c of this.containers) {
      if (!c.proc || c.killing) continue;
      const startup = c.probes.find((p) => p.kind === 'startup');
      const started = !startup || startup.state.result === 'success';
      for (const p of c.probes) {
        if (p.inFlight || !probeDue(p.state, now)) continue;
        if (p.kind === 'startup' ? started : !started) continue;
        p.inFlight = true;
        const proc = c.proc;
        void runProbe(p.probe, this.probeContext(c), p.timing.timeoutMs).then((outcome) => {
          p.inFlight = false;
          if (c.proc !== proc || c.killing) return;
          p.state = recordProbe(p.state, outcome.ok, p.timing, Date.now(), outcome.message);
          if (!outcome.ok) {
            const kind = p.kind[0]!.toUpperCase() + p.kind.slice(1);
            this.ctx.log(`pod ${this.key}: ${p.kind} probe of ${c.spec.name} failed: ${outcome.message ?? ''}`);
            this.ctx.event(this.pod, 'Warning', 'Unhealthy', `${kind} probe failed: ${outcome.message ?? ''}`);
          }
          if ((p.kind === 'liveness' || p.kind === 'startup') && p.state.result === 'failure') {
            const what = p.kind === 'liveness' ? 'liveness' : 'startup';
            void this.killContainer(c, `Container ${c.spec.name} failed ${what} probe, will be restarted`);
          }
        });
      }
    }
  }

  private probeContext(c: ContainerRuntime) {
    return {
      podIP: this.facts.podIP,
      container: c.spec,
      env: c.env,
      cwd: c.cwd,
      mappings: c.mappings,
      redisCliBinary: this.ctx.redisCliBinary,
    };
  }

  private graceMs(): number {
    const seconds = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, Number(seconds)) * 1000;
  }

  private async killContainer(c: ContainerRuntime, why: string, graceMs = this.graceMs()): Promise<void> {
    const proc = c.proc;
    if (!proc) return;
    c.killing = why;
    if (!this.stopped)
      this.ctx.event(this.pod, 'Normal', 'Killing', why === 'Stopping container' ? `Stopping container ${c.spec.name}` : why);
    await stopProcess(proc, this.stopped ? graceMs : await this.preStop(c, graceMs));
  }

  /**
   * Runs the container's preStop hook; the grace left for SIGTERM. As kuberuntime: no hook without
   * a grace period (a force deletion), and never less than 2 s between SIGTERM and SIGKILL.
   */
  private async preStop(c: ContainerRuntime, graceMs: number): Promise<number> {
    const hook = c.spec.lifecycle?.preStop;
    if (!hook || graceMs <= 0) return Math.max(MIN_GRACE_AFTER_HOOK_MS, graceMs);
    const { usedMs, failure } = await runPreStop(hook, this.probeContext(c), graceMs);
    if (failure !== undefined) {
      const meta = this.pod.metadata!;
      const pod = `${meta.name}_${meta.namespace}(${meta.uid ?? ''})`;
      this.ctx.event(this.pod, 'Warning', 'FailedPreStopHook', preStopFailureMessage(hook, c.spec.name, pod, failure));
    }
    return graceAfterHook(graceMs, usedMs);
  }

  // ---- status --------------------------------------------------------------------------------

  currentStatus(now: number): PodStatusJson {
    const init = this.containers.filter((c) => c.init).map((c) => containerStatus(c));
    const regular = this.containers.filter((c) => !c.init).map((c) => containerStatus(c));
    const status = buildPodStatus(
      {
        hostIP: this.facts.hostIP,
        podIP: this.facts.podIP,
        startTime: this.startTime,
        initialized: this.setupDone && this.initDone(),
        restartPolicy: this.restartPolicy,
        qosClass: qosClass(this.pod.spec?.containers ?? []),
        initContainers: init,
        containers: regular,
      },
      this.lastConditions,
      now,
    );
    // An init container that failed for good fails the Pod.
    const initFailed = this.containers.some((c) => c.init && c.done && isTerminated(c.state) && c.state.terminated.exitCode !== 0);
    if (initFailed) status.phase = 'Failed';
    return status;
  }

  /** Writes the status when it differs from what was last written. */
  async flushStatus(now: number): Promise<void> {
    if (this.statusInFlight || this.stopped) return;
    const status = this.currentStatus(now);
    const json = JSON.stringify(status);
    if (json === this.lastStatusJson) return;
    this.statusInFlight = true;
    try {
      await this.ctx.writeStatus(this.pod, status);
      this.lastStatusJson = json;
      this.lastConditions = status.conditions;
    } catch (err) {
      this.ctx.log(`pod ${this.key}: status write failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.statusInFlight = false;
    }
  }

  // ---- endings -------------------------------------------------------------------------------

  /** Graceful deletion: SIGTERM, the grace period, SIGKILL; then the Pod's directory goes. */
  terminate(graceMs = this.graceMs()): Promise<void> {
    this.terminating ??= (async () => {
      this.ctx.log(`pod ${this.key}: stopping containers (grace ${graceMs} ms)`);
      for (const c of this.containers) c.startAt = undefined;
      await this.setupRun;
      await Promise.all(this.containers.map((c) => this.killContainer(c, 'Stopping container', graceMs)));
      // A container that was being started when the deletion came is stopped by its starter.
      while (this.containers.some((c) => c.starting)) await new Promise((r) => setTimeout(r, 50));
      await fs.rm(this.podDir, { recursive: true, force: true });
    })();
    return this.terminating;
  }

  /** The kubelet is going away: processes end, the Pod's files and object stay. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    await Promise.all(this.containers.map((c) => this.killContainer(c, 'Kubelet stopping', graceMs)));
    while (this.containers.some((c) => c.starting)) await new Promise((r) => setTimeout(r, 50));
  }
}
