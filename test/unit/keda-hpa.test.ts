// The HPA's arithmetic for KEDA's metrics, checked against the worked examples of the Kubernetes
// documentation (Horizontal Pod Autoscaling, "Algorithm details" and "Configurable scaling
// behavior") and of KEP-853 (configurable scale velocity).
import { describe, expect, it } from 'vitest';
import { decide, newHpaState, recordScale, replicasForMetric, stabilize, type Behavior, type HpaState } from '../../local/keda/hpa.js';

const S = 1000;

/** Runs HPA syncs at the given seconds with the given metric counts; returns the count after each. */
function run(
  current: number,
  steps: { at: number; want: number }[],
  opts: { min: number; max: number; behavior?: Behavior },
  state: HpaState = newHpaState(),
): number[] {
  const counts: number[] = [];
  for (const step of steps) {
    // An AverageValue metric at `want * threshold` asks for exactly `want` replicas.
    const metric = { metricType: 'AverageValue' as const, value: step.want * 100, threshold: 100 };
    const { desired } = decide(state, {
      current,
      minReplicas: opts.min,
      maxReplicas: opts.max,
      behavior: opts.behavior,
      metrics: [metric],
      now: step.at * S,
    });
    if (desired !== current) recordScale(state, current, desired, opts.behavior, step.at * S);
    current = desired;
    counts.push(current);
  }
  return counts;
}

describe('the count one metric asks for', () => {
  it('doubles at 200m against 100m and halves at 50m (Value: ratio times the current count)', () => {
    // Docs, "Algorithm details": currentMetricValue 200m, desiredMetricValue 100m -> replicas doubled;
    // 50m -> halved.
    expect(replicasForMetric(4, { metricType: 'Value', value: 0.2, threshold: 0.1 })).toBe(8);
    expect(replicasForMetric(4, { metricType: 'Value', value: 0.05, threshold: 0.1 })).toBe(2);
  });

  it('skips any change within the tolerance of 0.1 around the target', () => {
    // Docs: "the control plane skips any scaling action if the ratio is sufficiently close to 1.0
    // (within a configurable tolerance, 0.1 by default)".
    expect(replicasForMetric(10, { metricType: 'Value', value: 109, threshold: 100 })).toBe(10);
    expect(replicasForMetric(10, { metricType: 'Value', value: 111, threshold: 100 })).toBe(12);
    expect(replicasForMetric(10, { metricType: 'AverageValue', value: 1090, threshold: 100 })).toBe(10);
    expect(replicasForMetric(10, { metricType: 'AverageValue', value: 1110, threshold: 100 })).toBe(12);
  });

  it('AverageValue: ceil(value / threshold), whatever the current count', () => {
    // KEDA's prometheus scaler, metricType AverageValue: the HPA divides the query's value by the
    // threshold to get the count (the chart's ScaledObject: masters = ceil(memory / per-master)).
    expect(replicasForMetric(3, { metricType: 'AverageValue', value: 1001, threshold: 100 })).toBe(11);
    expect(replicasForMetric(3, { metricType: 'AverageValue', value: 0, threshold: 100 })).toBe(0);
  });

  it('several metrics: the largest count wins; a missing one blocks only scale-down', () => {
    // Docs: "the HorizontalPodAutoscaler ... choose the one with the largest" and "if any of these
    // metrics cannot be converted ... and a scale down is suggested by the metrics which can be
    // fetched, scaling is skipped"; it "is still capable of scaling up".
    const state = newHpaState();
    const m = (want: number) => ({ metricType: 'AverageValue' as const, value: want * 10, threshold: 10 });
    const base = { minReplicas: 1, maxReplicas: 20, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } };
    expect(decide(state, { ...base, current: 5, metrics: [m(3), m(8)], now: 0 }).desired).toBe(8);
    expect(decide(newHpaState(), { ...base, current: 5, metrics: [m(2), undefined], now: 0 }).desired).toBe(5);
    expect(decide(newHpaState(), { ...base, current: 5, metrics: [m(7), undefined], now: 0 }).desired).toBe(7);
    expect(decide(newHpaState(), { ...base, current: 5, metrics: [undefined], now: 0 })).toEqual({
      desired: 5,
      reason: 'FailedGetExternalMetric',
    });
  });
});

describe('bounds', () => {
  it('never below minReplicas or above maxReplicas, and a count outside them is brought back first', () => {
    const behavior = { scaleDown: { stabilizationWindowSeconds: 0 } };
    expect(run(3, [{ at: 0, want: 40 }], { min: 3, max: 6, behavior })).toEqual([6]);
    expect(run(5, [{ at: 0, want: 0 }], { min: 3, max: 6, behavior })).toEqual([3]);
    expect(decide(newHpaState(), { current: 9, minReplicas: 3, maxReplicas: 6, metrics: [], now: 0 })).toEqual({
      desired: 6,
      reason: 'TooManyReplicas',
    });
    expect(decide(newHpaState(), { current: 1, minReplicas: 3, maxReplicas: 6, metrics: [], now: 0 })).toEqual({
      desired: 3,
      reason: 'TooFewReplicas',
    });
  });
});

describe('stabilization windows', () => {
  it('scale-down keeps the highest recommendation of its window (KEP-853, "Stabilization before scaling down")', () => {
    // KEP-853 example: scaleDown window 600 s, CurReplicas 10, one sync a minute,
    // recommendations [10, 9, 8, 9, 9, 8, 9, 8, 9] then 8 on the 10th minute: the largest is 10, no
    // change; 7 on the 11th minute drops the first 10: the largest is 9, 10 -> 9.
    // The KEP lists recommendations (after the metric step, whose tolerance would keep 9 of 10
    // at 10), so this feeds them to the stabilization step itself.
    const behavior: Behavior = { scaleDown: { stabilizationWindowSeconds: 600 } };
    const state = newHpaState();
    const wants = [10, 9, 8, 9, 9, 8, 9, 8, 9, 8, 7];
    const counts = wants.map((want, i) => stabilize(state, 10, want, behavior, (i + 1) * 60 * S));
    expect(counts.slice(0, 10)).toEqual(Array(10).fill(10));
    expect(counts[10]).toBe(9);
  });

  it('the default scale-down window is 300 s and a fresh HPA starts it with the current count', () => {
    // Docs, default behavior: scaleDown stabilizationWindowSeconds 300.
    const counts = run(
      8,
      [
        { at: 0, want: 2 },
        { at: 150, want: 2 },
        { at: 299, want: 2 },
        { at: 301, want: 2 },
      ],
      { min: 1, max: 10 },
    );
    expect(counts).toEqual([8, 8, 8, 2]);
  });

  it('scale-up keeps the lowest recommendation of its window', () => {
    // Docs: a scaleUp window makes the HPA use the lowest recommendation of that window.
    const behavior: Behavior = { scaleUp: { stabilizationWindowSeconds: 60 } };
    const counts = run(
      2,
      [
        { at: 0, want: 2 },
        { at: 30, want: 6 },
        { at: 59, want: 6 },
        { at: 61, want: 6 },
      ],
      { min: 1, max: 10, behavior },
    );
    expect(counts).toEqual([2, 2, 2, 6]);
  });
});

describe('scaling policies', () => {
  it('scale-down Pods 4 / Percent 10 per 60 s: 8 at a time from 80, 4 at a time below 40 (docs, "Scaling policies")', () => {
    // Docs example: "if there are 80 replicas and the target has to be scaled down to 10 replicas
    // then during the first step 8 replicas will be reduced. In the next iteration when the number
    // of replicas is 72, 10% of the pods is 7.2 but the number is rounded up to 8 ... When the number
    // of replicas falls below 40 the first policy (Pods) is applied and 4 replicas will be reduced
    // at a time."
    const behavior: Behavior = {
      scaleDown: {
        stabilizationWindowSeconds: 0,
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 60 },
          { type: 'Percent', value: 10, periodSeconds: 60 },
        ],
      },
    };
    const counts = run(
      80,
      Array.from({ length: 12 }, (_, i) => ({ at: i * 61, want: 10 })),
      { min: 1, max: 100, behavior },
    );
    expect(counts.slice(0, 3)).toEqual([72, 64, 57]);
    expect(counts).toContain(36);
    expect(counts[counts.indexOf(36) + 1]).toBe(32);
  });

  it('within one period the policy counts the changes already made', () => {
    // Docs: "periodSeconds indicates the length of time in the past for which the policy must hold true".
    const behavior: Behavior = { scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } };
    const counts = run(
      3,
      [
        { at: 0, want: 10 },
        { at: 30, want: 10 },
        { at: 61, want: 10 },
      ],
      { min: 1, max: 20, behavior },
    );
    expect(counts).toEqual([5, 5, 7]);
  });

  it('default scale-up: the larger of 4 Pods and 100% per 15 s', () => {
    // Docs, default behavior: scaleUp policies Percent 100 and Pods 4 per 15 s, selectPolicy Max.
    expect(run(1, [{ at: 0, want: 50 }], { min: 1, max: 100 })).toEqual([5]);
    expect(run(10, [{ at: 0, want: 50 }], { min: 1, max: 100 })).toEqual([20]);
  });

  it('selectPolicy Min takes the policy allowing the smallest change; Disabled forbids the direction', () => {
    // Docs: "selectPolicy: Min ... the policy which allows the smallest change"; "Disabled turns off
    // scaling in that direction".
    const policies = [
      { type: 'Pods' as const, value: 4, periodSeconds: 60 },
      { type: 'Percent' as const, value: 100, periodSeconds: 60 },
    ];
    expect(run(10, [{ at: 0, want: 50 }], { min: 1, max: 100, behavior: { scaleUp: { selectPolicy: 'Min', policies } } })).toEqual([14]);
    expect(run(10, [{ at: 0, want: 50 }], { min: 1, max: 100, behavior: { scaleUp: { selectPolicy: 'Disabled' } } })).toEqual([10]);
    const down = { stabilizationWindowSeconds: 0, selectPolicy: 'Disabled' as const };
    expect(run(10, [{ at: 0, want: 1 }], { min: 1, max: 100, behavior: { scaleDown: down } })).toEqual([10]);
  });
});
