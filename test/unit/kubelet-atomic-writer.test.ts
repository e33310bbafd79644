import { mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAtomically, type PayloadFile } from '../../local/kubelet/atomic-writer.js';

const payload = (files: Record<string, string>) =>
  new Map<string, PayloadFile>(Object.entries(files).map(([k, v]) => [k, { content: Buffer.from(v), mode: 0o644 }]));

describe('the AtomicWriter layout of a Secret volume', () => {
  it('keeps each key as a symlink through ..data, which points at one timestamped directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    await writeAtomically(dir, payload({ 'tls.crt': 'one', 'tls.key': 'k1' }), new Date('2026-01-02T03:04:05.678Z'));
    expect(readlinkSync(join(dir, 'tls.crt'))).toBe('..data/tls.crt');
    expect(readlinkSync(join(dir, 'tls.key'))).toBe('..data/tls.key');
    const first = readlinkSync(join(dir, '..data'));
    expect(first).toMatch(/^\.\.2026_01_02_03_04_05\.678\d{6}$/);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe('one');
    expect(readdirSync(dir).sort()).toEqual(['..data', first, 'tls.crt', 'tls.key'].sort());
  });

  it('swaps ..data to a new directory on a change, removes the old one and keys no longer there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    await writeAtomically(dir, payload({ 'tls.crt': 'one', 'tls.key': 'k1', 'old.txt': 'x' }));
    const first = readlinkSync(join(dir, '..data'));
    await writeAtomically(dir, payload({ 'tls.crt': 'two', 'tls.key': 'k2' }));
    const second = readlinkSync(join(dir, '..data'));
    expect(second).not.toBe(first);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe('two');
    expect(readFileSync(join(dir, 'tls.key'), 'utf8')).toBe('k2');
    expect(readdirSync(dir).sort()).toEqual(['..data', second, 'tls.crt', 'tls.key'].sort());
  });

  it('leaves everything as it is when the payload is unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
    await writeAtomically(dir, payload({ 'ca.crt': 'ca' }));
    const first = readlinkSync(join(dir, '..data'));
    await writeAtomically(dir, payload({ 'ca.crt': 'ca' }));
    expect(readlinkSync(join(dir, '..data'))).toBe(first);
  });
});
