import { describe, expect, it } from 'vitest';
import { crashesAfterExit, exitCodeOf, restartDelay, restartPolicyOf, shouldRestart } from '../../local/kubelet/backoff.js';
import { initialProbeState, probeDue, probeTiming, recordProbe } from '../../local/kubelet/probe.js';
import { buildPodStatus, podPhase, qosClass, type ContainerStatusJson } from '../../local/kubelet/status.js';
import { PodAddresses } from '../../local/kubelet/addresses.js';

const running = (name: string, ready = true): ContainerStatusJson => ({
  name,
  image: 'redis',
  imageID: '',
  ready,
  started: true,
  restartCount: 0,
  state: { running: { startedAt: '2026-01-01T00:00:00Z' } },
  lastState: {},
});
const exited = (name: string, exitCode: number): ContainerStatusJson => ({
  ...running(name, false),
  started: false,
  state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: 'a', finishedAt: 'b' } },
});
const waiting = (name: string, reason: string, restarted = false): ContainerStatusJson => ({
  ...running(name, false),
  started: false,
  state: { waiting: { reason } },
  lastState: restarted ? { terminated: { exitCode: 137, reason: 'Error', startedAt: 'a', finishedAt: 'b' } } : {},
});

describe('restart back-off', () => {
  it('doubles from the base up to the cap', () => {
    const policy = { baseMs: 1000, maxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((n) => restartDelay(n, policy))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(restartDelay(1, { baseMs: 10_000, maxMs: 300_000 })).toBe(10_000);
  });
  it('forgets crashes after a long run', () => {
    const policy = { baseMs: 1000, maxMs: 5000 };
    expect(crashesAfterExit(3, 100, policy)).toBe(4);
    expect(crashesAfterExit(3, 10_000, policy)).toBe(1);
  });
  it('follows restartPolicy', () => {
    expect(shouldRestart('Always', 0)).toBe(true);
    expect(shouldRestart('OnFailure', 0)).toBe(false);
    expect(shouldRestart('OnFailure', 1)).toBe(true);
    expect(shouldRestart('Never', 137)).toBe(false);
    expect(() => restartPolicyOf('Sometimes')).toThrow(/spec.restartPolicy/);
  });
  it('reports signal deaths as 128 + signal', () => {
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
    expect(exitCodeOf(3, null)).toBe(3);
  });
});

describe('probes', () => {
  it('applies Kubernetes defaults and rejects bad fields by name', () => {
    expect(probeTiming({}, 'readiness')).toEqual({
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(() => probeTiming({ periodSeconds: 0 }, 'readiness')).toThrow(/periodSeconds/);
    expect(() => probeTiming({ successThreshold: 2 }, 'liveness')).toThrow(/successThreshold must be 1/);
  });
  it('waits the initial delay, then flips only after the thresholds', () => {
    const timing = probeTiming({ initialDelaySeconds: 2, periodSeconds: 1, successThreshold: 2, failureThreshold: 2 }, 'readiness');
    let s = initialProbeState('readiness', timing, 1000);
    expect(s.result).toBe('failure');
    expect(probeDue(s, 2999)).toBe(false);
    expect(probeDue(s, 3000)).toBe(true);
    s = recordProbe(s, true, timing, 3000);
    expect(s.result).toBe('failure');
    expect(s.nextAt).toBe(4000);
    s = recordProbe(s, true, timing, 4000);
    expect(s.result).toBe('success');
    s = recordProbe(s, false, timing, 5000, 'refused');
    expect(s.result).toBe('success');
    expect(s.lastMessage).toBe('refused');
    s = recordProbe(s, true, timing, 6000);
    s = recordProbe(s, false, timing, 7000);
    expect(s.result).toBe('success');
    s = recordProbe(s, false, timing, 8000);
    expect(s.result).toBe('failure');
  });
  it('starts liveness as passing and startup as unknown', () => {
    const timing = probeTiming({}, 'liveness');
    expect(initialProbeState('liveness', timing, 0).result).toBe('success');
    expect(initialProbeState('startup', timing, 0).result).toBe('unknown');
  });
});

describe('pod status', () => {
  it('derives the phase as the kubelet does', () => {
    expect(podPhase([running('a'), waiting('b', 'ImageNotRunnable')], 'Always', true)).toBe('Pending');
    expect(podPhase([running('a'), waiting('b', 'CrashLoopBackOff', true)], 'Always', true)).toBe('Running');
    expect(podPhase([exited('a', 0)], 'Never', true)).toBe('Succeeded');
    expect(podPhase([exited('a', 1)], 'Never', true)).toBe('Failed');
    expect(podPhase([exited('a', 1)], 'OnFailure', true)).toBe('Running');
    expect(podPhase([running('a')], 'Always', false)).toBe('Pending');
  });
  it('keeps transition times while a condition holds and names unready containers', () => {
    const snapshot = {
      hostIP: '127.0.0.2',
      podIP: '127.1.0.1',
      startTime: 0,
      initialized: true,
      restartPolicy: 'Always' as const,
      qosClass: 'BestEffort',
      initContainers: [],
      containers: [running('redis', false)],
    };
    const first = buildPodStatus(snapshot, undefined, 1_000);
    const ready1 = first.conditions.find((c) => c.type === 'Ready')!;
    expect(ready1).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [redis]' });
    const second = buildPodStatus(snapshot, first.conditions, 50_000);
    expect(second.conditions).toEqual(first.conditions);
    const third = buildPodStatus({ ...snapshot, containers: [running('redis', true)] }, second.conditions, 90_000);
    const ready3 = third.conditions.find((c) => c.type === 'Ready')!;
    expect(ready3.status).toBe('True');
    expect(ready3.lastTransitionTime).toBe('1970-01-01T00:01:30Z');
    expect(third.conditions.find((c) => c.type === 'PodScheduled')!.lastTransitionTime).toBe('1970-01-01T00:00:01Z');
    expect(third).toMatchObject({ phase: 'Running', podIP: '127.1.0.1', podIPs: [{ ip: '127.1.0.1' }], hostIP: '127.0.0.2' });
  });
  it('computes the QoS class', () => {
    expect(qosClass([{}])).toBe('BestEffort');
    expect(qosClass([{ resources: { limits: { cpu: '1', memory: '1Gi' } } }])).toBe('Guaranteed');
    expect(qosClass([{ resources: { requests: { cpu: '1' } } }])).toBe('Burstable');
  });
});

describe('pod addresses', () => {
  it('hands out distinct loopback addresses, skipping .0 and .255, and keeps a preferred one', () => {
    const a = new PodAddresses('127.1.0.0/16', 0);
    expect(a.allocate('p1')).toBe('127.1.0.1');
    expect(a.allocate('p2')).toBe('127.1.0.2');
    expect(a.allocate('p1')).toBe('127.1.0.1');
    expect(a.allocate('p3', '127.1.3.4')).toBe('127.1.3.4');
    a.release('p2');
    expect(a.allocate('p4')).toBe('127.1.0.3');
    const small = new PodAddresses('127.9.0.0/30', 0);
    expect([small.allocate('a'), small.allocate('b'), small.allocate('c')]).toEqual(['127.9.0.1', '127.9.0.2', '127.9.0.3']);
    expect(() => small.allocate('d')).toThrow(/exhausted/);
    expect(() => new PodAddresses('10.0.0.0/16')).toThrow(/podCidrBase/);
  });
  it('starts at a random place in the range, so two platforms on one machine rarely meet', () => {
    const firsts = new Set(Array.from({ length: 20 }, () => new PodAddresses('127.1.0.0/16').allocate('p')));
    expect(firsts.size).toBeGreaterThan(15);
    for (const ip of firsts) expect(ip).toMatch(/^127\.1\.\d+\.\d+$/);
  });
});
