import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { catalog, EVENT_TYPES } from '../../shared/events/index.js';
import { DOC_PATH, renderCatalogTable, TABLE_BEGIN, TABLE_END, withCatalogTable } from '../../shared/events/doc.js';

const doc = readFileSync(DOC_PATH, 'utf8');
const TYPE_PATTERN = /\b(?:dev\.knative\.[a-z.]+[a-z]|redis\.redis\.[a-z]+\.[a-z]+\.v\d+)\b/g;

describe('docs/events.md and the catalog', () => {
  it('the catalog table in the doc is the one generated from the catalog', () => {
    expect(doc).toContain(TABLE_BEGIN);
    expect(doc).toContain(TABLE_END);
    expect(withCatalogTable(doc)).toBe(doc);
  });

  it('every catalog type appears in the doc, with its direction and consumers', () => {
    const table = renderCatalogTable();
    for (const type of EVENT_TYPES) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${type}\` |`));
      expect(row, type).toBeDefined();
      expect(row).toContain(`| ${catalog[type].direction} |`);
      for (const consumer of catalog[type].consumers) expect(row).toContain(consumer);
    }
  });

  it('every event type the doc names is in the catalog', () => {
    const named = new Set(doc.match(TYPE_PATTERN));
    expect(named.size).toBeGreaterThanOrEqual(EVENT_TYPES.length);
    const catalogTypes = new Set<string>(EVENT_TYPES);
    // Prefixes such as dev.knative.apiserver.ref (followed by a dot in the text) are not types.
    const strays = [...named].filter((t) => !catalogTypes.has(t) && !EVENT_TYPES.some((c) => c.startsWith(`${t}.`)));
    expect(strays).toEqual([]);
  });

  it('a table without its markers is refused with a message', () => {
    expect(() => withCatalogTable('# Events\n')).toThrow(/markers/);
  });
});

describe('knative/triggers.yaml and the catalog', () => {
  const path = fileURLToPath(new URL('../../knative/triggers.yaml', import.meta.url));
  const triggers = parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as { spec: Record<string, unknown> });

  function typeFilters(node: unknown, out: { exact: string[]; prefix: string[] }): void {
    if (Array.isArray(node)) return node.forEach((n) => typeFilters(n, out));
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if ((key === 'exact' || key === 'prefix') && value && typeof value === 'object' && 'type' in value) {
        out[key].push(String((value as { type: unknown }).type));
      } else typeFilters(value, out);
    }
  }

  it('every type a Trigger filters on is a catalog type or a prefix of one', () => {
    const found = { exact: [] as string[], prefix: [] as string[] };
    for (const t of triggers) typeFilters(t.spec, found);
    expect(found.exact.length + found.prefix.length).toBeGreaterThan(0);
    for (const type of found.exact) expect(EVENT_TYPES, type).toContain(type);
    for (const prefix of found.prefix)
      expect(
        EVENT_TYPES.some((t) => t.startsWith(prefix)),
        prefix,
      ).toBe(true);
  });

  it('every event type with a Trigger-routed consumer is reachable through some Trigger', () => {
    const found = { exact: [] as string[], prefix: [] as string[] };
    for (const t of triggers) typeFilters(t.spec, found);
    const routed = (type: string) => found.exact.includes(type) || found.prefix.some((p) => type.startsWith(p));
    const unrouted = EVENT_TYPES.filter(
      (t) => !catalog[t].consumers.every((c) => c.startsWith('none')) && !routed(t) && !t.startsWith('dev.knative.apiserver.resource.'),
    );
    expect(unrouted).toEqual([]);
  });
});
