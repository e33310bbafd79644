// TLS turned on, then off again, on a live 3x1 cluster under a fixed-rate writer: every node first
// serves both protocols (its port as before, the other on port + 1000), the bus is switched on all
// of them at once, and the nodes are rolled to the final layout. A writer that keeps the old
// protocol fails on a node once it is rolled (its application would switch); what matters is that
// no write any node acknowledged is lost, and that the cluster ends TLS only, then plaintext only.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { clientTls } from '../../shared/tls/secret.js';
import { TRANSITION_PORT_OFFSET } from '../../shared/tls/layout.js';
import { certDir, issue, makeAuthority } from '../helpers/certificates.js';
import { clusterEventReasons } from '../helpers/autoscaling.js';
import { applyCluster, clusterClient, eventually, NODE_ADDRESSES, statusNodes, useE2E } from '../helpers/e2e.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger } from '../helpers/timed-ledger.js';
import { execFile } from 'node:child_process';

const NS = 'tls-switch';
const NAME = 'switch';
const SECRET = 'switch-tls';
const e2e = useE2E({ namespaces: [NS] });
const ca = makeAuthority(certDir(), 'switch-ca');

const nodesOf = (obj: KubeObject) => statusNodes(obj).map((n) => ({ ip: n.ip, port: n.port }));

/** What a plaintext `redis-cli PING` to the node's port prints. */
function plainPing(node: { ip: string; port: number }): Promise<string> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-h', node.ip, '-p', String(node.port), 'PING'], { timeout: 10_000 }, (_err, stdout) => resolve(stdout.trim()));
  });
}

/** Ready for the generation the last patch made, every Pod in the final layout the spec asks for. */
async function settled(tls: boolean): Promise<KubeObject> {
  let last = '';
  return eventually(
    `the cluster Ready with every node ${tls ? 'TLS' : 'plaintext'} only`,
    async () => {
      const obj = (await e2e.getCluster(NS, NAME))!;
      const status = obj.status as { phase?: string; observedGeneration?: number } | undefined;
      const { items } = await e2e.platform.kube.list('v1', 'Pod', NS);
      const layouts = items.map((p) => {
        const meta = p.metadata as { annotations?: Record<string, string> };
        const mounts = ((p.spec as { volumes?: { name: string }[] }).volumes ?? []).some((v) => v.name === 'tls');
        return meta.annotations?.['redis.redis/tls-layout'] ?? (mounts ? 'tls' : 'plain');
      });
      last = `${status?.phase} gen ${status?.observedGeneration}/${(obj.metadata as { generation: number }).generation}, layouts ${layouts.join(',')}`;
      const done =
        status?.phase === 'Ready' &&
        status.observedGeneration === (obj.metadata as { generation: number }).generation &&
        layouts.length === 6 &&
        layouts.every((l) => l === (tls ? 'tls' : 'plain'));
      return done ? obj : undefined;
    },
    600_000,
    1000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen: ${last}`);
  });
}

async function patchTls(tls: { secretName: string } | null): Promise<void> {
  const out = await e2e.kubectl(['-n', NS, 'patch', 'rediscluster', NAME, '--type', 'merge', '-p', JSON.stringify({ spec: { tls } })]);
  expect(out.stderr).toBe('');
}

/**
 * Asks discovery for the cluster's nodes every 300 ms while some Pod is in a dual layout (one of
 * its ports speaks the other protocol than the spec says), until stopped: each answer's source and
 * the ports it named.
 */
interface Answer {
  source: string | null;
  ports: number[];
  /** A Pod in a dual layout was terminating (its node still running) when discovery was asked. */
  terminatingDual: boolean;
}

function watchDiscovery(): { stop(): Promise<Answer[]> } {
  const seen: Answer[] = [];
  let stopped = false;
  const url = `${e2e.platform.urls.serving}/redis-operator/discovery/cluster/nodes?clusterName=${NAME}&namespace=${NS}`;
  const loop = (async () => {
    while (!stopped) {
      const { items } = await e2e.platform.kube.list('v1', 'Pod', NS);
      const dual = items.filter((p) =>
        (p.metadata as { annotations?: Record<string, string> }).annotations?.['redis.redis/tls-layout']?.includes('+'),
      );
      if (dual.length > 0) {
        const terminatingDual = dual.some((p) => (p.metadata as { deletionTimestamp?: string }).deletionTimestamp);
        const answer = await fetch(url);
        const body = (await answer.json()) as { port: number }[];
        seen.push({ source: answer.headers.get('x-discovery-source'), ports: body.map((n) => n.port), terminatingDual });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return seen;
    },
  };
}

/** Mid-transition, discovery answered from a node it reached (`live`), naming each node by its own port. */
function expectLiveThroughout(seen: Answer[], basePort: number): void {
  console.log(
    `discovery asked ${seen.length} times mid-transition: ${seen.filter((s) => s.source === 'live').length} live answers, ` +
      `${seen.filter((s) => s.ports.some((p) => p < basePort || p >= basePort + TRANSITION_PORT_OFFSET)).length} naming a second port, ` +
      `${seen.filter((s) => s.terminatingDual).length} while a dual-layout Pod was terminating`,
  );
  expect(seen.length).toBeGreaterThan(3);
  expect(seen.filter((s) => s.source !== 'live')).toEqual([]);
  // Including a node whose Pod is terminating in a dual layout (its preStop hook still running):
  // its peers name it by its second port (4 of 138 answers did, before discovery learned it).
  expect(seen.filter((s) => s.ports.some((p) => p < basePort || p >= basePort + TRANSITION_PORT_OFFSET))).toEqual([]);
  expect(seen.some((s) => s.ports.length === 6)).toBe(true);
}

describe('turning TLS on and off on a live cluster', () => {
  let ready: KubeObject;
  let ackedOn: number[] = [];

  it('on: dual layout, bus switched, TLS only; every acknowledged write kept', async () => {
    ({ ready } = await applyCluster(e2e, { namespace: NS, name: NAME, spec: { exporter: { enabled: true } }, ports: 7 }));
    const cert = issue(ca, { names: ['localhost', ...NODE_ADDRESSES] });
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: SECRET, namespace: NS },
      stringData: { 'tls.crt': cert['tls.crt'], 'tls.key': cert['tls.key'], 'ca.crt': cert['ca.crt'] },
    };
    expect((await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(secret))).stderr).toBe('');
    const ledger = await startTimedLedger(nodesOf(ready), 50, 'on', 3000, { giveUp: true });
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    const discovery = watchDiscovery();
    await patchTls({ secretName: SECRET });
    const done = await settled(true);
    console.log(`TLS on: ${Date.now() - started} ms`);
    const result = await ledger.stop();
    expectLiveThroughout(await discovery.stop(), Math.min(...nodesOf(ready).map((n) => n.port)));
    const acked = result.writes.map((w) => w.n);
    ackedOn = acked;
    console.log(`plaintext writer: ${acked.length} acknowledged, failures ${JSON.stringify(result.failures)}`);
    expect(acked.length).toBeGreaterThan(200);
    expect(result.wrongReads).toBe(0);
    expect(await clusterEventReasons(e2e, NS, NAME)).toContain('TLSBusSwitched');
    const client = clusterClient(done, undefined, clientTls(ca.pem));
    try {
      expect(await missingWrites(client, acked, 'on')).toEqual([]);
      expect((await client.cluster('INFO')) as string).toMatch(/cluster_state:ok/);
    } finally {
      client.disconnect();
    }
    // Plaintext on a node's port gets no answer now.
    for (const node of nodesOf(done)) expect(await plainPing(node)).not.toBe('PONG');
    ready = done;
  }, 900_000);

  it('off: back through the dual layout to plaintext only; every acknowledged write kept', async () => {
    const ledger = await startTimedLedger(nodesOf(ready), 50, 'off', 3000, { tlsCa: ca.pem, giveUp: true });
    await new Promise((r) => setTimeout(r, 1000));
    const started = Date.now();
    const discovery = watchDiscovery();
    await patchTls(null);
    const done = await settled(false);
    console.log(`TLS off: ${Date.now() - started} ms`);
    const result = await ledger.stop();
    expectLiveThroughout(await discovery.stop(), Math.min(...nodesOf(ready).map((n) => n.port)));
    const acked = result.writes.map((w) => w.n);
    console.log(`TLS writer: ${acked.length} acknowledged, failures ${JSON.stringify(result.failures)}`);
    expect(acked.length).toBeGreaterThan(200);
    expect(result.wrongReads).toBe(0);
    const client = clusterClient(done);
    try {
      expect(await missingWrites(client, acked, 'off')).toEqual([]);
      // What was written before, through both transitions.
      expect(await missingWrites(client, ackedOn, 'on')).toEqual([]);
    } finally {
      client.disconnect();
    }
    for (const node of nodesOf(done)) expect(await plainPing(node)).toBe('PONG');
  }, 900_000);
});
