import { describe, expect, it } from 'vitest';
import { applyDefaults, type RedisClusterStatus } from '../../shared/api/index.js';
import {
  alertKey,
  APPLIED_KEEP,
  AUTOSCALING_ANNOTATION,
  decideScale,
  parseRecord,
  type ClusterState,
} from '../../functions/scale/decide.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const READY: RedisClusterStatus = { phase: 'Ready', observedGeneration: 3 };

function state(autoscaling: Record<string, unknown> = {}, over: Partial<ClusterState> = {}, masters = 3): ClusterState {
  return {
    spec: applyDefaults({
      image: 'redis:7',
      maxMemory: '512mb',
      masters,
      replicas: 1,
      autoscaling: { enabled: true, minMasters: 3, maxMasters: 6, cooldownSeconds: 300, ...autoscaling },
    }),
    status: READY,
    generation: 3,
    ...over,
  };
}

const alert = (alertname: string, scaleCount?: string, key = 'k1') => ({
  key,
  alertname,
  status: 'firing' as const,
  ...(scaleCount !== undefined ? { scaleCount } : {}),
});

describe('scale: alert -> action', () => {
  it.each([
    ['HighMemoryUsage', 4],
    ['HighThroughput', 4],
    ['LowMemoryUsage', 2],
    ['LowThroughput', 2],
  ])('%s changes masters by one by default', (name, expected) => {
    const d = decideScale(state({}, {}, 3), alert(name), NOW);
    // 3 is the least the schema allows; start from 4 to see a removal.
    if (expected === 2) {
      const d4 = decideScale(state({}, {}, 4), alert(name), NOW);
      expect(d4).toMatchObject({ kind: 'apply', target: 'masters', from: 4, to: 3, patch: { spec: { masters: 3 } } });
      return;
    }
    expect(d).toMatchObject({ kind: 'apply', target: 'masters', from: 3, to: expected });
  });

  it('honours the scale_count annotation, and a configured count over it', () => {
    expect(decideScale(state(), alert('HighMemoryUsage', '2'), NOW)).toMatchObject({ kind: 'apply', from: 3, to: 5 });
    const configured = state({ actions: { HighMemoryUsage: { target: 'masters', direction: 'add', count: 1 } } });
    expect(decideScale(configured, alert('HighMemoryUsage', '2'), NOW)).toMatchObject({ kind: 'apply', to: 4 });
  });

  it('maps a configured alert to replicas', () => {
    const s = state({ maxReplicas: 3, actions: { ReadHeavy: { target: 'replicas', direction: 'add' } } });
    expect(decideScale(s, alert('ReadHeavy'), NOW)).toMatchObject({
      kind: 'apply',
      target: 'replicas',
      from: 1,
      to: 2,
      patch: { spec: { replicas: 2 } },
    });
  });

  it('ignores unknown alerts and a bad scale_count', () => {
    expect(decideScale(state(), alert('DiskFull'), NOW)).toMatchObject({ kind: 'ignore', reason: 'NoAction' });
    expect(decideScale(state(), alert('HighMemoryUsage', 'two'), NOW)).toMatchObject({ kind: 'ignore', reason: 'InvalidScaleCount' });
    expect(decideScale(state(), alert('HighMemoryUsage', '0'), NOW)).toMatchObject({ kind: 'ignore', reason: 'InvalidScaleCount' });
  });

  it('ignores every alert while autoscaling is disabled', () => {
    const s = { ...state(), spec: applyDefaults({ image: 'redis:7', maxMemory: '512mb', masters: 3 }) };
    expect(decideScale(s, alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'ignore', reason: 'AutoscalingDisabled' });
  });
});

describe('scale: bounds', () => {
  it('clamps a step to maxMasters and refuses one that changes nothing', () => {
    expect(decideScale(state({}, {}, 5), alert('HighMemoryUsage', '3'), NOW)).toMatchObject({
      kind: 'apply',
      from: 5,
      to: 6,
      requested: 8,
    });
    expect(decideScale(state({}, {}, 6), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'ignore', reason: 'AtBound' });
    expect(decideScale(state({}, {}, 3), alert('LowMemoryUsage'), NOW)).toMatchObject({ kind: 'ignore', reason: 'AtBound' });
    expect(decideScale(state({}, {}, 5), alert('LowMemoryUsage', '4'), NOW)).toMatchObject({ kind: 'apply', from: 5, to: 3 });
  });
});

describe('scale: cooldown', () => {
  it('waits cooldownSeconds after the last scale, from the status or the record', () => {
    const justNow = { ...READY, lastScaleTime: '2026-11-24T11:58:00Z' };
    expect(decideScale(state({}, { status: justNow }), alert('HighMemoryUsage'), NOW)).toMatchObject({
      kind: 'ignore',
      reason: 'Cooldown',
    });
    const long = { ...READY, lastScaleTime: '2026-11-24T11:54:59Z' };
    expect(decideScale(state({}, { status: long }), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'apply' });
    // The status write was lost: the record written with the spec still holds the time.
    const annotations = { [AUTOSCALING_ANNOTATION]: JSON.stringify({ applied: [], lastScaleTime: '2026-11-24T11:59:00Z' }) };
    expect(decideScale(state({}, { status: long, annotations }), alert('HighMemoryUsage'), NOW)).toMatchObject({
      kind: 'ignore',
      reason: 'Cooldown',
    });
    expect(decideScale(state({ cooldownSeconds: 30 }, { annotations }), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'apply' });
  });
});

describe('scale: busy', () => {
  it('does not scale during a reshard, a heal, or before the last change was acted on', () => {
    const reshard = { ...READY, reshard: { state: 'Running' as const, slotsDone: 10, slotsTotal: 100 } };
    expect(decideScale(state({}, { status: reshard }), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'ignore', reason: 'Busy' });
    for (const phase of ['Healing', 'Resharding', 'Scaling', 'Creating', 'Degraded'] as const) {
      expect(decideScale(state({}, { status: { ...READY, phase } }), alert('HighMemoryUsage'), NOW)).toMatchObject({
        kind: 'ignore',
        reason: 'Busy',
      });
    }
    expect(decideScale(state({}, { generation: 4 }), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'ignore', reason: 'Busy' });
    const finished = { ...READY, reshard: { state: 'Completed' as const } };
    expect(decideScale(state({}, { status: finished }), alert('HighMemoryUsage'), NOW)).toMatchObject({ kind: 'apply' });
  });

  it('does not scale a paused cluster, nor one in a rolling update, and says why', () => {
    const paused = { ...state(), spec: { ...state().spec, paused: true } };
    const decision = decideScale(paused, alert('HighMemoryUsage'), NOW);
    expect(decision).toMatchObject({ kind: 'ignore', reason: 'Busy' });
    expect(decision.message).toContain('spec.paused is true');
    const updating = decideScale(state({}, { status: { ...READY, phase: 'Updating' } }), alert('HighMemoryUsage'), NOW);
    expect(updating).toMatchObject({ kind: 'ignore', reason: 'Busy', message: expect.stringContaining('Updating') as unknown });
  });
});

describe('scale: dedupe', () => {
  it('records the applied alert in the patch, and a redelivery is then a duplicate', () => {
    const key = alertKey('/redis-operator/alert-bridge', 'abc');
    const first = decideScale(state(), alert('HighMemoryUsage', '2', key), NOW);
    if (first.kind !== 'apply') throw new Error('expected apply');
    const annotations = first.patch.metadata.annotations;
    expect(parseRecord(annotations)).toEqual({ applied: [key], lastScaleTime: '2026-11-24T12:00:00Z' });
    // Even long after the cooldown, the same delivery never applies twice.
    const later = new Date(NOW.getTime() + 3600_000);
    expect(decideScale(state({}, { annotations }, 5), alert('HighMemoryUsage', '2', key), later)).toMatchObject({
      kind: 'ignore',
      reason: 'Duplicate',
    });
    expect(
      decideScale(state({}, { annotations }, 5), alert('HighMemoryUsage', '1', alertKey('/redis-operator/alert-bridge', 'abd')), later),
    ).toMatchObject({ kind: 'apply', to: 6 });
  });

  it('keys differ by source and id, and the record keeps the newest entries', () => {
    expect(alertKey('a', 'b')).not.toBe(alertKey('a', 'c'));
    expect(alertKey('a', 'b')).not.toBe(alertKey('x', 'b'));
    expect(alertKey('a', 'b')).toBe(alertKey('a', 'b'));
    const applied = Array.from({ length: APPLIED_KEEP }, (_, i) => `old${i}`);
    const annotations = { [AUTOSCALING_ANNOTATION]: JSON.stringify({ applied }) };
    const d = decideScale(state({}, { annotations }), alert('HighMemoryUsage', undefined, 'new'), NOW);
    if (d.kind !== 'apply') throw new Error('expected apply');
    expect(d.record.applied).toHaveLength(APPLIED_KEEP);
    expect(d.record.applied.at(-1)).toBe('new');
    expect(d.record.applied[0]).toBe('old1');
  });

  it('an alert ignored for the cooldown is not recorded, so its redelivery after the cooldown applies', () => {
    const status = { ...READY, lastScaleTime: '2026-11-24T11:59:00Z' };
    const s = state({}, { status }, 4);
    expect(decideScale(s, alert('LowMemoryUsage', undefined, 'low1'), NOW)).toMatchObject({ kind: 'ignore', reason: 'Cooldown' });
    expect(decideScale(s, alert('LowMemoryUsage', undefined, 'low1'), new Date(NOW.getTime() + 300_000))).toMatchObject({
      kind: 'apply',
      to: 3,
    });
  });

  it('survives a broken record', () => {
    expect(parseRecord({ [AUTOSCALING_ANNOTATION]: '{not json' })).toEqual({ applied: [] });
  });
});
