import { describe, expect, it } from 'vitest';
import { TLS_FILE_SETTINGS, planTlsReload, tlsConf } from '../../functions/reconcile/tls.js';
import type { TlsVerdict } from '../../shared/tls/certificate.js';

const verdict = (hash: string): TlsVerdict => ({ ok: true, hash, fingerprint: `FP-${hash}`, notAfter: new Date(0), ca: 'CA' });
const pod = (name: string, tlsHash: string | undefined, o: { ready?: boolean; deleting?: boolean } = {}) => ({
  name,
  tlsHash,
  ready: o.ready ?? true,
  deleting: o.deleting ?? false,
});

describe('planTlsReload', () => {
  it('reloads nothing when every node has loaded the Secret it holds', () => {
    expect(planTlsReload(verdict('a'), [pod('rc-0', 'a'), pod('rc-1', 'a')])).toBeUndefined();
  });

  it('reloads every ready node that loaded an older Secret, once: a node recorded with the new hash is left alone', () => {
    const pods = [pod('rc-0', 'a'), pod('rc-1', 'b'), pod('rc-2', 'a'), pod('rc-3', undefined)];
    expect(planTlsReload(verdict('b'), pods)).toEqual({ pods: ['rc-0', 'rc-2', 'rc-3'], hash: 'b', fingerprint: 'FP-b', ca: 'CA' });
    const after = pods.map((p) => ({ ...p, tlsHash: 'b' }));
    expect(planTlsReload(verdict('b'), after)).toBeUndefined();
  });

  it('skips a Pod not ready or terminating: it loads the files as it starts', () => {
    const pods = [pod('rc-0', 'a', { ready: false }), pod('rc-1', 'a', { deleting: true }), pod('rc-2', 'a')];
    expect(planTlsReload(verdict('b'), pods)?.pods).toEqual(['rc-2']);
  });

  it('reloads nothing from a Secret that fails its checks, nor without TLS', () => {
    const bad: TlsVerdict = { ok: false, problem: 'Expired', message: 'TLS Secret s: the certificate in tls.crt expired' };
    expect(planTlsReload(bad, [pod('rc-0', 'a')])).toBeUndefined();
    expect(planTlsReload(undefined, [pod('rc-0', 'a')])).toBeUndefined();
  });

  it('reloads by the three file settings a TLS node is started with', () => {
    const conf = tlsConf({ files: true, bus: true }).join('\n');
    for (const setting of TLS_FILE_SETTINGS) expect(conf).toMatch(new RegExp(`^${setting} /etc/redis-tls/`, 'm'));
    expect(conf).toMatch(/^tls-cluster yes$/m);
    expect(conf).toMatch(/^tls-replication yes$/m);
  });
});
