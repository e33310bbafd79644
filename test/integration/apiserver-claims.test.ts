// PersistentVolumeClaims on the embedded API server, through kubectl: the default StorageClass on
// create, and resizing as kube-apiserver allows it (bound claims grow where their class allows
// expansion, and never shrink).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kubectl, startTestApi, type TestApi } from '../helpers/platform-api.js';

const classes = `
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: example.com/directories
allowVolumeExpansion: true
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: { name: fixed }
provisioner: example.com/directories
`;

const claim = (name: string, storageClass?: string) => `
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: ${name}, namespace: cache }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 1Gi } }
  ${storageClass ? `storageClassName: ${storageClass}` : ''}
`;

describe('PersistentVolumeClaims', () => {
  let api: TestApi;
  let kubectl: Kubectl;
  const storage = (name: string) => ['-n', 'cache', 'get', 'pvc', name, '-o', 'jsonpath={.spec.resources.requests.storage}'];
  const resize = (name: string, size: string) =>
    kubectl.run([
      '-n',
      'cache',
      'patch',
      'pvc',
      name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { resources: { requests: { storage: size } } } }),
    ]);
  const bind = (name: string) =>
    kubectl.ok([
      ...['-n', 'cache', 'patch', 'pvc', name, '--subresource=status', '--type=merge'],
      ...['-p', JSON.stringify({ status: { phase: 'Bound', capacity: { storage: '1Gi' } } })],
    ]);

  beforeAll(async () => {
    api = await startTestApi();
    kubectl = new Kubectl(api.url);
    await kubectl.ok(['apply', '-f', kubectl.file('classes.yaml', classes)]);
    await kubectl.ok(['apply', '-f', kubectl.file('a.yaml', claim('a'))]);
    await kubectl.ok(['apply', '-f', kubectl.file('b.yaml', claim('b', 'fixed'))]);
    await kubectl.ok(['apply', '-f', kubectl.file('c.yaml', claim('c'))]);
    await bind('a');
    await bind('b');
  });
  afterAll(async () => {
    kubectl?.cleanup();
    await api?.close();
  });

  it('get the default StorageClass when they name none', async () => {
    expect(await kubectl.ok(['-n', 'cache', 'get', 'pvc', 'a', '-o', 'jsonpath={.spec.storageClassName}'])).toBe('standard');
    expect(await kubectl.ok(['get', 'storageclass', 'fixed', '-o', 'jsonpath={.provisioner}'])).toBe('example.com/directories');
  });

  it('grow when bound and their class allows expansion', async () => {
    const r = await resize('a', '2Gi');
    expect(r.stderr).toBe('');
    expect(await kubectl.ok(storage('a'))).toBe('2Gi');
  });

  it('never shrink', async () => {
    const r = await resize('a', '1500Mi');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'The PersistentVolumeClaim "a" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value',
    );
    expect(await kubectl.ok(storage('a'))).toBe('2Gi');
  });

  it('do not grow when their class does not allow expansion, or before they are bound', async () => {
    const fixed = await resize('b', '2Gi');
    expect(fixed.stderr).toContain(
      'persistentvolumeclaims "b" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize',
    );
    const unbound = await resize('c', '2Gi');
    // Validation comes before the resize admission: only a bound claim's request may change at all.
    expect(unbound.stderr).toContain('The PersistentVolumeClaim "c" is invalid: spec: Forbidden: spec is immutable after creation');
    expect(await kubectl.ok(storage('b'))).toBe('1Gi');
    expect(await kubectl.ok(storage('c'))).toBe('1Gi');
  });

  it('keep the rest of their spec', async () => {
    const r = await kubectl.run(['-n', 'cache', 'patch', 'pvc', 'a', '--type=merge', '-p', '{"spec":{"accessModes":["ReadWriteMany"]}}']);
    expect(r.stderr).toContain(
      'spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims',
    );
  });
});
