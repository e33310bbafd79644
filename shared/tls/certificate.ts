// The TLS Secret's checks, before anything touches Redis or a Pod: a node given a key that does
// not match its certificate, an expired certificate or a CA that did not sign it would refuse
// every connection (or every peer would refuse it). Pure: the Secret's data in, a verdict out.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';

/** The keys cert-manager writes in a certificate's Secret. */
export const TLS_KEYS = ['tls.crt', 'tls.key', 'ca.crt'] as const;
export type TlsKey = (typeof TLS_KEYS)[number];

/** Why a TLS Secret cannot be used; each is a status condition reason. */
export type TlsProblem = 'SecretMissing' | 'KeyMissing' | 'KeyMismatch' | 'Expired' | 'NotSignedByCA' | 'Unreadable';

export type TlsVerdict =
  | {
      ok: true;
      /** Of the three keys' contents: changes when any file the nodes load changes. */
      hash: string;
      /** tls.crt's SHA-256 fingerprint, to tell which certificate a node serves. */
      fingerprint: string;
      notAfter: Date;
      /** ca.crt: what a client checks the nodes' certificates against. */
      ca: string;
    }
  | { ok: false; problem: TlsProblem; message: string };

/** A Secret's `data`, decoded; undefined when the Secret does not exist. */
export type TlsSecretData = Partial<Record<string, string>> | undefined;

const refuse = (problem: TlsProblem, secret: string, what: string): TlsVerdict => ({
  ok: false,
  problem,
  message: `TLS Secret ${secret}: ${what}`,
});

/** Checks the Secret `secret` holds a usable certificate at `now`. */
export function checkTlsSecret(secret: string, data: TlsSecretData, now: Date): TlsVerdict {
  if (!data) return refuse('SecretMissing', secret, 'not found in the namespace');
  const missing = TLS_KEYS.filter((k) => !data[k]);
  if (missing.length > 0) return refuse('KeyMissing', secret, `has no ${missing.join(', ')}`);
  const { 'tls.crt': crtPem, 'tls.key': keyPem, 'ca.crt': caPem } = data as Record<TlsKey, string>;
  let cert: X509Certificate;
  let cas: X509Certificate[];
  try {
    cert = new X509Certificate(crtPem);
    cas = pemCertificates(caPem).map((pem) => new X509Certificate(pem));
    if (cas.length === 0) throw new Error('ca.crt holds no BEGIN CERTIFICATE block');
  } catch (e) {
    return refuse('Unreadable', secret, `tls.crt or ca.crt is not a PEM certificate (${(e as Error).message})`);
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
      return refuse('KeyMismatch', secret, 'tls.key is not the private key of the certificate in tls.crt');
    }
  } catch (e) {
    return refuse('Unreadable', secret, `tls.key is not a PEM private key (${(e as Error).message})`);
  }
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    return refuse('Expired', secret, `the certificate in tls.crt expired at ${notAfter.toISOString()}`);
  }
  // During a CA rotation ca.crt holds the old CA and the new one: either may have signed.
  if (!cas.some((ca) => cert.verify(ca.publicKey))) {
    const subjects = cas.map((ca) => ca.subject.trim().replace(/\n/g, ', ')).join('; ');
    return refuse('NotSignedByCA', secret, `the certificate in tls.crt is not signed by any CA in ca.crt (${subjects})`);
  }
  return { ok: true, hash: tlsHash(data as Record<TlsKey, string>), fingerprint: cert.fingerprint256, notAfter, ca: caPem };
}

/** The certificates of a PEM bundle, in order. */
function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** One hash of the files the nodes load, so a change to any of them is seen once. */
export function tlsHash(data: Record<TlsKey, string>): string {
  const h = createHash('sha256');
  for (const k of TLS_KEYS) h.update(`${k}\0${data[k]}\0`);
  return h.digest('hex').slice(0, 16);
}
