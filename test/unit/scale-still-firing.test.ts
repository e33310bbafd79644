// A still-firing alert, notification by notification, through the bridge's events and the scale
// decision: each notification Alertmanager sends after the cooldown is one more step up to the
// bound; a redelivered notification and a re-send inside the cooldown change nothing.
import { describe, expect, it } from 'vitest';
import { alertEvents, parseWebhook } from '../../functions/alert-bridge/bridge.js';
import { alertIntent, decideScale, type AlertIntent, type ClusterState, type ScaleDecision } from '../../functions/scale/decide.js';
import { applyDefaults, type RedisClusterStatus } from '../../shared/api/index.js';
import type { AlertmanagerAlert } from '../../shared/events/catalog.js';

const SOURCE = '/redis-operator/alert-bridge';
const T0 = new Date('2026-11-24T12:00:00Z');
const COOLDOWN_S = 300;
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Alertmanager's notification of one HighThroughput alert, received by the bridge at `receivedAt`. */
function notification(receivedAt: Date, status: 'firing' | 'resolved' = 'firing'): AlertIntent {
  const alert: AlertmanagerAlert = {
    status,
    labels: { alertname: 'HighThroughput', namespace: 'cache', redis_cluster: 'rediscluster1', severity: 'warning' },
    annotations: { scale_count: '1' },
    startsAt: '2026-11-24T11:54:00Z',
    endsAt: status === 'firing' ? '0001-01-01T00:00:00Z' : '2026-11-24T12:40:00Z',
    fingerprint: '3f6c1d2e4b5a6978',
  };
  const parsed = parseWebhook({ version: '4', status, receiver: 'redis-operator', alerts: [alert] });
  if (!parsed.ok) throw new Error(parsed.message);
  const [event] = alertEvents(parsed.payload, SOURCE, receivedAt).events;
  return alertIntent(event as unknown as Parameters<typeof alertIntent>[0]);
}

function cluster(masters = 3): ClusterState {
  const status: RedisClusterStatus = { phase: 'Ready', observedGeneration: 1 };
  return {
    spec: applyDefaults({
      image: 'redis:7',
      maxMemory: '512mb',
      masters,
      replicas: 1,
      autoscaling: { enabled: true, minMasters: 3, maxMasters: 6, cooldownSeconds: COOLDOWN_S },
    }),
    status,
    generation: 1,
  };
}

/** The cluster once the step's patch is written and the reshard it asked for is done. */
function afterStep(state: ClusterState, decision: ScaleDecision): ClusterState {
  if (decision.kind !== 'apply') throw new Error(`expected a step, got ${decision.reason}: ${decision.message}`);
  const generation = (state.generation ?? 1) + 1;
  return {
    spec: { ...state.spec, ...decision.patch.spec },
    generation,
    annotations: { ...state.annotations, ...decision.patch.metadata.annotations },
    status: { ...state.status, phase: 'Ready', observedGeneration: generation, lastScaleTime: decision.record.lastScaleTime! },
  };
}

describe('a still-firing alert', () => {
  const first = notification(at(0));
  const scaledOnce = afterStep(cluster(), decideScale(cluster(), first, at(0)));

  it('its first notification is one step', () => {
    expect(decideScale(cluster(), first, at(0))).toMatchObject({ kind: 'apply', target: 'masters', from: 3, to: 4 });
    expect(scaledOnce.spec.masters).toBe(4);
  });

  it('the same notification redelivered changes nothing, inside the cooldown or long after it', () => {
    // The Broker's retry, or a second scale instance that lost the conditional write and re-read.
    expect(notification(at(0)).key).toBe(first.key);
    for (const when of [at(5), at(COOLDOWN_S + 1), at(3600)]) {
      expect(decideScale(scaledOnce, notification(at(0)), when)).toMatchObject({ kind: 'ignore', reason: 'Duplicate' });
    }
  });

  it('a re-send inside the cooldown changes nothing, and says until when', () => {
    const resend = notification(at(120));
    expect(resend.key).not.toBe(first.key);
    const d = decideScale(scaledOnce, resend, at(120));
    expect(d).toMatchObject({ kind: 'ignore', reason: 'Cooldown' });
    expect(d.message).toContain('cooldown of 300s lasts until 2026-11-24T12:05:00Z');
  });

  it('a re-send after the cooldown is one more step', () => {
    const d = decideScale(scaledOnce, notification(at(COOLDOWN_S + 10)), at(COOLDOWN_S + 10));
    expect(d).toMatchObject({ kind: 'apply', from: 4, to: 5 });
    if (d.kind === 'apply') expect(d.record.lastScaleTime).toBe('2026-11-24T12:05:10Z');
  });

  it('re-sent every repeat_interval, it steps once per cooldown until the bound, then changes nothing with the reason', () => {
    const repeatS = 240;
    let state = cluster();
    const steps: string[] = [];
    const ignored: string[] = [];
    for (let t = 0; t <= 12 * repeatS; t += repeatS) {
      const d = decideScale(state, notification(at(t)), at(t));
      if (d.kind === 'apply') {
        steps.push(`${t}s ${d.from}->${d.to}`);
        state = afterStep(state, d);
      } else ignored.push(`${t}s ${d.reason}`);
    }
    // A re-send 240 s after a step is inside the cooldown; the next one, 480 s after it, steps.
    expect(steps).toEqual(['0s 3->4', '480s 4->5', '960s 5->6']);
    expect(ignored.slice(0, 4)).toEqual(['240s Cooldown', '720s Cooldown', '1200s Cooldown', '1440s AtBound']);
    expect(ignored.slice(4).every((i) => i.endsWith('AtBound'))).toBe(true);
    const atBound = decideScale(state, notification(at(4000)), at(4000));
    expect(atBound).toMatchObject({ kind: 'ignore', reason: 'AtBound' });
    expect(atBound.message).toContain('masters is 6, bounds 3..6');
  });

  it('its resolution changes nothing, after the cooldown and below the bound too', () => {
    const resolved = notification(at(COOLDOWN_S + 60), 'resolved');
    expect(resolved.status).toBe('resolved');
    expect(decideScale(scaledOnce, resolved, at(COOLDOWN_S + 60))).toMatchObject({ kind: 'ignore', reason: 'Resolved' });
    expect(decideScale(cluster(), resolved, at(0))).toMatchObject({ kind: 'ignore', reason: 'Resolved' });
  });
});
