import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkTlsSecret } from '../../shared/tls/certificate.js';
import { certDir, issue, makeAuthority, type Issued } from '../helpers/certificates.js';

const now = () => new Date();
let good: Issued;
let other: Issued;
let expired: Issued;
let foreign: Issued;

beforeAll(() => {
  const dir = certDir();
  const ca = makeAuthority(dir, 'ca');
  good = issue(ca);
  other = issue(ca);
  expired = issue(ca, { days: -1 });
  foreign = issue(makeAuthority(dir, 'other-ca'));
});

describe('checkTlsSecret while the CA is rotated', () => {
  // The overlap period: ca.crt holds the old CA and the new one, so every node and client trusts
  // both before any node serves a certificate of the new one.
  it('accepts a certificate signed by any CA of a ca.crt bundle, and keeps the whole bundle for clients', () => {
    const bundle = `${other['ca.crt']}${foreign['ca.crt']}`;
    for (const leaf of [other, foreign]) {
      const v = checkTlsSecret('redis-tls', { ...data(leaf), 'ca.crt': bundle }, now());
      expect(v).toMatchObject({ ok: true, ca: bundle });
    }
  });

  it('names every CA of the bundle when none signed the certificate', () => {
    const bundle = `${other['ca.crt']}${foreign['ca.crt']}`;
    const stranger = issue(makeAuthority(certDir(), 'third-ca'));
    const v = checkTlsSecret('redis-tls', { ...data(stranger), 'ca.crt': bundle }, now());
    expect(v).toMatchObject({ ok: false, problem: 'NotSignedByCA' });
    expect(!v.ok && v.message).toMatch(/not signed by any CA in ca\.crt \(CN=ca; CN=other-ca\)/);
  });
});

const data = (i: Issued) => ({ 'tls.crt': i['tls.crt'], 'tls.key': i['tls.key'], 'ca.crt': i['ca.crt'] });

describe('checkTlsSecret', () => {
  it('accepts a certificate, its key and the CA that signed it, and hashes all three', () => {
    const v = checkTlsSecret('redis-tls', data(good), now());
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    expect(v.hash).toMatch(/^[0-9a-f]{16}$/);
    expect(v.fingerprint).toBe(new X509Certificate(good['tls.crt']).fingerprint256);
    expect(v.notAfter.getTime()).toBe(new Date(new X509Certificate(good['tls.crt']).validTo).getTime());
    const rotated = checkTlsSecret('redis-tls', data(other), now());
    expect(rotated.ok && rotated.hash).not.toBe(v.hash);
    expect(checkTlsSecret('redis-tls', data(good), now())).toEqual(v);
  });

  const cases: [string, () => Partial<Record<string, string>> | undefined, string, RegExp][] = [
    ['a missing Secret', () => undefined, 'SecretMissing', /TLS Secret redis-tls: not found/],
    ['a missing key', () => ({ ...data(good), 'ca.crt': undefined }), 'KeyMissing', /redis-tls: has no ca\.crt/],
    ['two missing keys', () => ({ 'tls.crt': good['tls.crt'] }), 'KeyMissing', /has no tls\.key, ca\.crt/],
    [
      'a key of another certificate',
      () => ({ ...data(good), 'tls.key': other['tls.key'] }),
      'KeyMismatch',
      /tls\.key is not the private key of the certificate in tls\.crt/,
    ],
    ['an expired certificate', () => data(expired), 'Expired', /the certificate in tls\.crt expired at 20\d\d-/],
    [
      'a CA that did not sign the certificate',
      () => ({ ...data(foreign), 'ca.crt': good['ca.crt'] }),
      'NotSignedByCA',
      /not signed by any CA in ca\.crt \(CN=ca\)/,
    ],
    ['a certificate that is not PEM', () => ({ ...data(good), 'tls.crt': 'garbage' }), 'Unreadable', /tls\.crt or ca\.crt is not a PEM/],
    ['a key that is not PEM', () => ({ ...data(good), 'tls.key': 'garbage' }), 'Unreadable', /tls\.key is not a PEM private key/],
  ];
  it.each(cases)('refuses %s, naming the Secret', (_what, secret, problem, message) => {
    const v = checkTlsSecret('redis-tls', secret(), now());
    expect(v).toMatchObject({ ok: false, problem });
    expect(!v.ok && v.message).toMatch(message);
  });

  it('refuses a certificate once its validity has passed', () => {
    const notAfter = new Date(new X509Certificate(good['tls.crt']).validTo);
    expect(checkTlsSecret('redis-tls', data(good), new Date(notAfter.getTime() - 1000)).ok).toBe(true);
    expect(checkTlsSecret('redis-tls', data(good), new Date(notAfter.getTime() + 1000))).toMatchObject({ problem: 'Expired' });
  });
});
