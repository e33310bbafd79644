// What a Pod's ports speak, read from the Pod, and the per-node protocol and naming it gives the
// clients of a cluster in a TLS transition.
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { EndpointProtocols, podTls, TRANSITION_PORT_OFFSET } from '../../shared/tls/layout.js';

const pod = (annotation?: string, secret?: string): V1Pod => ({
  metadata: { name: 'c-0', ...(annotation ? { annotations: { 'redis.redis/tls-layout': annotation } } : {}) },
  spec: { containers: [], volumes: secret ? [{ name: 'tls', secret: { secretName: secret } }] : [{ name: 'data', emptyDir: {} }] },
});

describe('podTls', () => {
  it('is the annotation in a transition, else TLS exactly when the Pod mounts the Secret', () => {
    expect(podTls(pod())).toEqual({ layout: 'plain' });
    expect(podTls(pod(undefined, 's'))).toEqual({ layout: 'tls', secretName: 's' });
    expect(podTls(pod('plain+tls', 's'))).toEqual({ layout: 'plain+tls', secretName: 's' });
    expect(podTls(pod('tls+plain', 's'))).toEqual({ layout: 'tls+plain', secretName: 's' });
    // An annotation that names no dual layout says nothing.
    expect(podTls(pod('tls', undefined))).toEqual({ layout: 'plain' });
  });
});

describe('EndpointProtocols', () => {
  const nodes = [
    { ip: '10.0.0.1', port: 7000, layout: 'plain+tls' as const },
    { ip: '10.0.0.2', port: 7001, layout: 'tls' as const },
    { ip: '10.0.0.3', port: 7002, layout: 'tls+plain' as const },
  ];

  it('asks each node in the protocol of its port, an unknown one in the spec protocol', () => {
    const p = new EndpointProtocols(true);
    p.learn(nodes);
    expect(nodes.map((n) => p.speaksTls(n))).toEqual([false, true, true]);
    expect(p.speaksTls({ ip: '10.0.0.9', port: 7009 })).toBe(true);
    expect(new EndpointProtocols(false).speaksTls({ ip: '10.0.0.9', port: 7009 })).toBe(false);
  });

  it("names a dual-layout node's second port by its own, and leaves every other address alone", () => {
    const p = new EndpointProtocols(true);
    p.learn(nodes);
    expect(p.canonical({ ip: '10.0.0.1', port: 7000 + TRANSITION_PORT_OFFSET })).toEqual({ ip: '10.0.0.1', port: 7000 });
    expect(p.canonical({ ip: '10.0.0.3', port: 7002 + TRANSITION_PORT_OFFSET })).toEqual({ ip: '10.0.0.3', port: 7002 });
    expect(p.canonical({ ip: '10.0.0.2', port: 7001 + TRANSITION_PORT_OFFSET })).toEqual({ ip: '10.0.0.2', port: 8001 });
    expect(p.canonical({ ip: '10.0.0.1', port: 7000 })).toEqual({ ip: '10.0.0.1', port: 7000 });
  });

  it("a terminating Pod's node is still named by its second port; the live Pod at its address decides the protocol", () => {
    // Host network: the replacement comes back at the same address in the final layout while the
    // old Pod's node still answers (its preStop hook) in the dual one.
    const old = { ip: '10.0.0.3', port: 7002, layout: 'tls+plain' as const, terminating: true };
    const replacement = { ip: '10.0.0.3', port: 7002, layout: 'plain' as const };
    for (const order of [
      [replacement, old],
      [old, replacement],
    ]) {
      const p = new EndpointProtocols(false);
      p.learn(order);
      expect(p.canonical({ ip: '10.0.0.3', port: 7002 + TRANSITION_PORT_OFFSET })).toEqual({ ip: '10.0.0.3', port: 7002 });
      expect(p.speaksTls({ ip: '10.0.0.3', port: 7002 })).toBe(false);
    }
    const alone = new EndpointProtocols(false);
    alone.learn([old]);
    expect(alone.speaksTls({ ip: '10.0.0.3', port: 7002 })).toBe(true);
  });
});
