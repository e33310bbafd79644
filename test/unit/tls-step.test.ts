// The TLS transition as a pass sees it: the layout the roll brings the Pods to, a new Pod's layout,
// and what the shared redis.conf says while the Pods differ.
import { describe, expect, it } from 'vitest';
import { applyDefaults } from '../../shared/api/index.js';
import type { PodInfo } from '../../functions/reconcile/observe.js';
import { newPodTls, podsTlsOf, rollTarget } from '../../functions/reconcile/tls-step.js';
import type { PortLayout } from '../../shared/tls/layout.js';

const plainSpec = applyDefaults({ masters: 3, replicas: 1, maxMemory: '64mb' });
const tlsSpec = applyDefaults({ masters: 3, replicas: 1, maxMemory: '64mb', tls: { secretName: 'rc-tls' } });

function pod(ordinal: number, layout: PortLayout, extra: Partial<PodInfo> = {}): PodInfo {
  return {
    name: `rc-${ordinal}`,
    ordinal,
    shard: 0,
    deleting: false,
    ready: true,
    ip: '10.0.0.1',
    port: 6379 + ordinal,
    busPort: 16379 + ordinal,
    createdAt: 0,
    layout,
    ...(layout === 'plain' ? {} : { tlsSecret: 'rc-tls' }),
    ...extra,
  };
}

describe('the TLS transition in a pass', () => {
  it('outside a transition: the spec is the target, as before', () => {
    expect(rollTarget({ spec: plainSpec, pods: [pod(0, 'plain'), pod(1, 'plain')] })).toEqual({ layout: 'plain' });
    expect(rollTarget({ spec: tlsSpec, pods: [pod(0, 'tls'), pod(1, 'tls')] })).toEqual({ layout: 'tls', secretName: 'rc-tls' });
    expect(newPodTls({ spec: plainSpec, pods: [] })).toEqual({ layout: 'plain' });
    expect(podsTlsOf(plainSpec, [pod(0, 'plain')])).toEqual({ conf: { files: false, bus: false }, transition: false });
    expect(podsTlsOf(tlsSpec, [])).toEqual({ conf: { files: true, bus: true }, transition: false });
  });

  it('turning TLS on: the roll targets the dual layout; the conf keeps the old bus for the Pods not rolled yet', () => {
    const pods = [pod(0, 'plain'), pod(1, 'plain+tls')];
    const o = { spec: tlsSpec, pods, tlsBus: new Map([['rc-1', false]]) };
    expect(rollTarget(o)).toEqual({ layout: 'plain+tls', secretName: 'rc-tls', transition: true });
    expect(newPodTls(o)).toEqual({ layout: 'plain+tls', secretName: 'rc-tls', transition: true });
    expect(podsTlsOf(tlsSpec, pods)).toEqual({ mounted: 'rc-tls', conf: { files: true, bus: false }, transition: true });
  });

  it('holds the roll while the bus is to be swept or a dual node has not said its bus', () => {
    const pods = [pod(0, 'plain+tls'), pod(1, 'plain+tls')];
    expect(
      rollTarget({
        spec: tlsSpec,
        pods,
        tlsBus: new Map([
          ['rc-0', false],
          ['rc-1', false],
        ]),
      }),
    ).toBeUndefined();
    expect(rollTarget({ spec: tlsSpec, pods, tlsBus: new Map([['rc-0', true]]) })).toBeUndefined();
    // A Pod with no address yet has not started: it will run its layout's bus.
    const starting = [pod(0, 'plain+tls', { ip: undefined }), pod(1, 'plain+tls')];
    expect(rollTarget({ spec: tlsSpec, pods: starting, tlsBus: new Map([['rc-1', true]]) })).toBeUndefined();
  });

  it('turning TLS off: the Secret comes from the Pods; plaintext Pods made meanwhile name their bus', () => {
    const pods = [pod(0, 'tls+plain'), pod(1, 'plain')];
    const o = { spec: plainSpec, pods, tlsBus: new Map([['rc-0', false]]) };
    expect(rollTarget(o)).toEqual({ layout: 'plain', secretName: 'rc-tls', transition: true });
    expect(newPodTls(o)).toEqual({ layout: 'plain', secretName: 'rc-tls', transition: true });
    // The last Pod to leave TLS is replaced: the others are plain, so is it, and so is redis.conf.
    expect(newPodTls({ spec: plainSpec, pods: [pod(0, 'plain'), pod(1, 'tls+plain', { deleting: true })] })).toEqual({ layout: 'plain' });
    expect(podsTlsOf(plainSpec, [pod(0, 'plain'), pod(1, 'tls+plain', { deleting: true })]).conf).toEqual({ files: false, bus: false });
    expect(podsTlsOf(plainSpec, pods)).toEqual({ mounted: 'rc-tls', conf: { files: true, bus: false }, transition: true });
  });
});
