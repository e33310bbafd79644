// The TLS transition planner: from any cluster it can meet, the steps reach the layout the spec
// wants, a roll never starts a node on a bus the others do not run, and the bus is only swept
// once every node serves both protocols.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layoutForNewPod, planTlsTransition, startingBus, type TransitionPod } from '../../functions/reconcile/tls-transition.js';
import type { PortLayout } from '../../shared/tls/layout.js';

/** `bus` null: the node did not answer. */
const pod = (name: string, layout: PortLayout, bus: boolean | null = startingBus(layout)): TransitionPod => ({
  name,
  layout,
  ...(bus === null ? {} : { busTls: bus }),
});

describe('planTlsTransition', () => {
  it('turns TLS on: dual layout, sweep, final layout', () => {
    const plain = [pod('c-0', 'plain'), pod('c-1', 'plain')];
    expect(planTlsTransition(true, plain)).toEqual({ kind: 'roll', layout: 'plain+tls', pods: ['c-0', 'c-1'] });
    const dual = [pod('c-0', 'plain+tls'), pod('c-1', 'plain+tls')];
    expect(planTlsTransition(true, dual)).toEqual({ kind: 'sweep', tls: true, pods: ['c-0', 'c-1'] });
    const swept = [pod('c-0', 'plain+tls', true), pod('c-1', 'plain+tls', true)];
    expect(planTlsTransition(true, swept)).toEqual({ kind: 'roll', layout: 'tls', pods: ['c-0', 'c-1'] });
    expect(planTlsTransition(true, [pod('c-0', 'tls'), pod('c-1', 'tls')])).toEqual({ kind: 'done' });
  });

  it('finishes a sweep cut short on the nodes it missed', () => {
    const half = [pod('c-0', 'plain+tls', true), pod('c-1', 'plain+tls', false)];
    expect(planTlsTransition(true, half)).toEqual({ kind: 'sweep', tls: true, pods: ['c-1'] });
  });

  it('waits while a dual node has not said which bus it runs', () => {
    const step = planTlsTransition(true, [pod('c-0', 'plain+tls', null), pod('c-1', 'plain+tls')]);
    expect(step).toEqual({ kind: 'wait', reason: 'tls-cluster unknown on c-0' });
  });

  it('turned back off half way: the rolled nodes go dual first, since the bus is already TLS', () => {
    const midway = [pod('c-0', 'tls'), pod('c-1', 'plain+tls', true)];
    expect(planTlsTransition(false, midway)).toEqual({ kind: 'roll', layout: 'tls+plain', pods: ['c-0'] });
  });

  it('gives a new Pod the layout of the bus the cluster runs', () => {
    expect(layoutForNewPod(true, [])).toBe('tls');
    expect(layoutForNewPod(true, [pod('c-0', 'plain')])).toBe('plain+tls');
    expect(layoutForNewPod(true, [pod('c-0', 'plain+tls', true)])).toBe('tls');
    expect(layoutForNewPod(false, [pod('c-0', 'tls')])).toBe('tls+plain');
  });

  const layouts: PortLayout[] = ['plain', 'tls', 'plain+tls', 'tls+plain'];
  /** A cluster whose nodes all gossip: one bus, each node in a layout that can run it. */
  const gossiping = fc
    .record({ bus: fc.boolean(), count: fc.integer({ min: 1, max: 6 }), picks: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }) })
    .map(({ bus, count, picks }) => {
      const fits = layouts.filter((l) => l === 'plain+tls' || l === 'tls+plain' || startingBus(l) === bus);
      return Array.from({ length: count }, (_, i) => pod(`c-${i}`, fits[picks[i]! % fits.length]!, bus));
    });

  it('from any gossiping cluster: done within three steps, every node on one bus after each step', () => {
    fc.assert(
      fc.property(gossiping, fc.boolean(), (start, wantTls) => {
        let pods = start;
        for (let steps = 0; steps < 4; steps++) {
          const step = planTlsTransition(wantTls, pods);
          if (step.kind === 'done') {
            expect(pods.every((p) => p.layout === (wantTls ? 'tls' : 'plain'))).toBe(true);
            return steps <= 3;
          }
          if (step.kind === 'wait') return false;
          const bus = pods[0]!.busTls;
          if (step.kind === 'sweep') {
            expect(pods.every((p) => p.layout === 'plain+tls' || p.layout === 'tls+plain')).toBe(true);
            pods = pods.map((p) => ({ ...p, busTls: step.tls }));
          } else {
            // A replaced node starts on the bus its layout says: it must be the cluster's.
            expect(startingBus(step.layout)).toBe(bus);
            pods = pods.map((p) => (step.pods.includes(p.name) ? pod(p.name, step.layout) : p));
          }
          expect(new Set(pods.map((p) => p.busTls)).size).toBe(1);
        }
        return false;
      }),
      { numRuns: 500 },
    );
  });
});
