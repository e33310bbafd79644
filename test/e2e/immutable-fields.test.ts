// Fields a live cluster cannot take: the API server refuses them with a 422 naming the field, through
// kubectl as a person would write them, and the object stays as it was. persistence.size may only
// grow, and growing it grows the nodes' claims where their StorageClass allows expansion.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { applyCluster, condition, eventually, exampleCluster, useE2E } from '../helpers/e2e.js';

const NS = 'fixed';
const e2e = useE2E({ namespaces: [NS] });

const persistence = (storageClass: string, size: string) => ({ persistence: { enabled: true, storageClass, size } });
const small = (storageClass: string) => ({ masters: 3, replicas: 0, ...persistence(storageClass, '1Gi') });

async function claims(name: string): Promise<KubeObject[]> {
  const list = await e2e.platform.kube.list('v1', 'PersistentVolumeClaim', NS);
  return list.items.filter((c) => c.metadata!.name!.startsWith(`${name}-`));
}
const sizes = async (name: string) =>
  (await claims(name)).map((c) => [c.spec?.resources?.requests?.storage, c.status?.capacity?.storage] as [string, string]);

async function events(name: string, reason: string): Promise<string[]> {
  const list = await e2e.platform.kube.list('v1', 'Event', NS);
  return list.items
    .filter((e) => (e.involvedObject as { name?: string } | undefined)?.name === name && e.reason === reason)
    .map((e) => String(e.message));
}

const patch = (name: string, spec: Record<string, unknown>) =>
  e2e.kubectl(['-n', NS, 'patch', 'rediscluster', name, '--type=merge', '-p', JSON.stringify({ spec })]);

describe('fields a live cluster cannot take', () => {
  it('refuses basePort, hostNetwork and storage class changes naming the field; grows the claims with the size, never shrinks them', async () => {
    const name = 'steady';
    const { ready, basePort } = await applyCluster(e2e, { name, namespace: NS, spec: small('standard') });
    const generation = ready.metadata!.generation;
    const unchanged = async () => {
      const now = await e2e.getCluster(NS, name);
      expect(now!.metadata!.generation).toBe(generation);
      expect(now!.spec).toEqual(ready.spec);
    };

    const port = await patch(name, { basePort: basePort + 100 });
    expect(port.code).not.toBe(0);
    expect(port.stderr).toContain(
      `The RedisCluster "${name}" is invalid: spec.basePort: Forbidden: basePort cannot change on a live cluster: every node's port and bus port`,
    );
    // kubectl apply of the whole object, as a person edits a manifest.
    const manifest = exampleCluster({ name, namespace: NS, spec: { ...(ready.spec as object), hostNetwork: false } });
    const network = await e2e.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
    expect(network.code).not.toBe(0);
    expect(network.stderr).toContain(
      `The RedisCluster "${name}" is invalid: spec.hostNetwork: Forbidden: hostNetwork cannot change on a live cluster`,
    );
    const storageClass = await patch(name, persistence('premium', '1Gi'));
    expect(storageClass.stderr).toContain(
      `The RedisCluster "${name}" is invalid: spec.persistence.storageClass: Forbidden: persistence.storageClass cannot change on a live cluster`,
    );
    await unchanged();

    expect(await sizes(name)).toEqual([
      ['1Gi', '1Gi'],
      ['1Gi', '1Gi'],
      ['1Gi', '1Gi'],
    ]);
    const grown = await patch(name, persistence('standard', '2Gi'));
    expect(grown.stderr).toBe('');
    await eventually(
      'every claim asked for 2Gi and reporting it',
      async () => (await sizes(name)).every(([requested, capacity]) => requested === '2Gi' && capacity === '2Gi'),
      60_000,
      500,
    );
    expect(await events(name, 'ClaimsExpanded')).toEqual([`claims ${name}-0-data, ${name}-1-data, ${name}-2-data asked to grow to 2Gi`]);

    const shrunk = await patch(name, persistence('standard', '1500Mi'));
    expect(shrunk.code).not.toBe(0);
    expect(shrunk.stderr).toContain(
      `The RedisCluster "${name}" is invalid: spec.persistence.size: Forbidden: persistence.size may only grow: a PersistentVolumeClaim can be expanded, never shrunk`,
    );
    expect(((await e2e.getCluster(NS, name))!.spec as { persistence: { size: string } }).persistence.size).toBe('2Gi');
    expect((await sizes(name)).map(([requested]) => requested)).toEqual(['2Gi', '2Gi', '2Gi']);
    expect(condition(await e2e.getCluster(NS, name), 'Ready')?.status).toBe('True');
    // Set only once a claim could not grow.
    expect(condition(await e2e.getCluster(NS, name), 'ClaimsResized')).toBeUndefined();
  }, 240_000);

  it('leaves the claims at their size, with a Warning, where the StorageClass does not allow expansion', async () => {
    const created = await e2e.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: { name: 'fixed-size' },
        provisioner: 'example.com/disks',
      }),
    );
    expect(created.code, created.stderr).toBe(0);
    const name = 'pinned';
    await applyCluster(e2e, { name, namespace: NS, spec: small('fixed-size') });

    const grown = await patch(name, persistence('fixed-size', '3Gi'));
    expect(grown.stderr).toBe('');
    const warnings = await eventually('a Warning that the class does not allow expansion', async () => {
      const found = await events(name, 'ClaimExpansionRefused');
      return found.length > 0 ? found : undefined;
    });
    expect(warnings[0]).toBe(
      `claims ${name}-0-data, ${name}-1-data, ${name}-2-data stay at their size, not 3Gi: StorageClass fixed-size does not allow volume expansion (allowVolumeExpansion); the cluster keeps running`,
    );
    expect(await sizes(name)).toEqual([
      ['1Gi', '1Gi'],
      ['1Gi', '1Gi'],
      ['1Gi', '1Gi'],
    ]);
    // Asking a claim directly gets the API server's own refusal.
    const direct = await e2e.kubectl([
      ...['-n', NS, 'patch', 'pvc', `${name}-0-data`, '--type=merge'],
      ...['-p', '{"spec":{"resources":{"requests":{"storage":"3Gi"}}}}'],
    ]);
    expect(direct.stderr).toContain(
      `persistentvolumeclaims "${name}-0-data" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize`,
    );
    const settled = await eventually('the cluster Ready at the new generation', async () => {
      const obj = await e2e.getCluster(NS, name);
      const status = obj?.status as { observedGeneration?: number } | undefined;
      return condition(obj, 'Ready')?.status === 'True' && status?.observedGeneration === obj?.metadata?.generation && obj;
    });
    expect(condition(settled, 'ClaimsResized')).toMatchObject({
      status: 'False',
      reason: 'ExpansionNotAllowed',
      message: [0, 1, 2].map((i) => `${name}-${i}-data: StorageClass fixed-size does not allow volume expansion`).join('; '),
    });
  }, 240_000);
});
