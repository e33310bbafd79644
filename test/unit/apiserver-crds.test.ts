import { describe, expect, it } from 'vitest';
import { crdStatus, crdTypes } from '../../local/apiserver/crds.js';
import { ApiError } from '../../local/apiserver/errors.js';
import type { Obj } from '../../local/apiserver/store.js';

const objectSchema = { type: 'object', properties: { spec: { type: 'object', properties: { masters: { type: 'integer', default: 3 } } } } };

function widgetCrd(overrides: Record<string, unknown> = {}): Obj {
  return {
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope: 'Namespaced',
      names: { plural: 'widgets', kind: 'Widget', shortNames: ['wd'] },
      versions: [
        { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: objectSchema } },
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: objectSchema },
          subresources: { status: {}, scale: { specReplicasPath: '.spec.masters', statusReplicasPath: '.status.masters' } },
        },
      ],
      ...overrides,
    },
  };
}

function causesOf(crd: Obj): { field?: string; reason: string }[] {
  try {
    crdTypes(crd);
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(422);
    return (err as ApiError).details?.causes ?? [];
  }
  throw new Error('the CRD was accepted');
}

describe('crdTypes', () => {
  it('gives one resource type per served version, sharing storage', () => {
    const types = crdTypes(widgetCrd());
    expect(types.map((t) => t.version)).toEqual(['v1beta1', 'v1']);
    const v1 = types[1]!;
    expect(v1).toMatchObject({
      group: 'example.com',
      kind: 'Widget',
      plural: 'widgets',
      singular: 'widget',
      listKind: 'WidgetList',
      namespaced: true,
      custom: true,
      status: true,
    });
    expect(v1.shortNames).toEqual(['wd']);
    expect(v1.scale).toEqual({ specReplicasPath: '.spec.masters', statusReplicasPath: '.status.masters', labelSelectorPath: undefined });
    expect(types[0]!.status).toBe(false);
    expect(new Set(types.map((t) => t.storageKey))).toEqual(new Set(['example.com/widgets']));
  });

  it('leaves out versions that are not served, but still checks their schema', () => {
    const crd = widgetCrd();
    crd.spec.versions[0].served = false;
    expect(crdTypes(crd).map((t) => t.version)).toEqual(['v1']);
    crd.spec.versions[0].schema = { openAPIV3Schema: { type: 'string' } };
    expect(causesOf(crd).map((c) => c.field)).toEqual(['spec.versions[0].schema.openAPIV3Schema.type']);
  });

  it('refuses a CRD whose name, scope or storage version is wrong, naming each field', () => {
    const crd = widgetCrd({ scope: 'Galaxy' });
    crd.metadata.name = 'widgets.other.com';
    crd.spec.versions[0].storage = true;
    expect(causesOf(crd)).toEqual([
      expect.objectContaining({ field: 'metadata.name', reason: 'FieldValueInvalid' }),
      expect.objectContaining({ field: 'spec.scope', reason: 'FieldValueNotSupported' }),
      expect.objectContaining({ field: 'spec.versions', reason: 'FieldValueInvalid' }),
    ]);
  });

  it('requires group, names, scope, versions and a schema per version', () => {
    expect(causesOf({ metadata: { name: 'x' }, spec: {} }).map((c) => c.field)).toEqual([
      'spec.group',
      'spec.names.plural',
      'spec.names.kind',
      'spec.scope',
      'spec.versions',
    ]);
    const crd = widgetCrd();
    delete crd.spec.versions[1].schema;
    expect(causesOf(crd)).toEqual([
      expect.objectContaining({ field: 'spec.versions[1].schema.openAPIV3Schema', reason: 'FieldValueRequired' }),
    ]);
  });
});

describe('crdStatus', () => {
  it('accepts the names, keeps transition times and stored versions, and says when it terminates', () => {
    const crd = widgetCrd();
    const first = crdStatus(crd);
    expect(first.acceptedNames).toEqual({
      plural: 'widgets',
      singular: 'widget',
      kind: 'Widget',
      listKind: 'WidgetList',
      shortNames: ['wd'],
    });
    expect(first.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`)).toEqual([
      'NamesAccepted=True',
      'Established=True',
    ]);
    expect(first.storedVersions).toEqual(['v1']);

    const since = '2020-01-01T00:00:00Z';
    const later = widgetCrd();
    later.spec.versions[0].storage = true;
    later.spec.versions[1].storage = false;
    later.metadata.deletionTimestamp = since;
    later.status = { storedVersions: ['v1'], conditions: [{ type: 'Established', lastTransitionTime: since }] };
    const next = crdStatus(later);
    expect(next.storedVersions).toEqual(['v1', 'v1beta1']);
    expect(next.conditions.find((c: { type: string }) => c.type === 'Established').lastTransitionTime).toBe(since);
    expect(next.conditions.map((c: { type: string }) => c.type)).toContain('Terminating');
  });
});
