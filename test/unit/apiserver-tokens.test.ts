import { describe, expect, it } from 'vitest';
import { API_AUDIENCES, ISSUER, KUBELET_TOKEN_SECONDS, ServiceAccountTokens, type TokenClaims } from '../../local/apiserver/tokens.js';

const sa = { namespace: 'redis-operator', name: 'redis-operator-reconcile', uid: 'sa-uid' };
const claimsOf = (token: string): TokenClaims => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as TokenClaims;

describe('ServiceAccount tokens', () => {
  const tokens = new ServiceAccountTokens();

  it("are RS256 JWTs with kube-apiserver's claims, bound to the Pod the kubelet names", () => {
    const pod = { name: 'reconcile-00001-abc', uid: 'pod-uid' };
    const { token } = tokens.issue(sa, { expirationSeconds: KUBELET_TOKEN_SECONDS }, { pod }, Date.UTC(2026, 0, 1));
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string };
    expect(header.alg).toBe('RS256');
    expect(header.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const c = claimsOf(token);
    expect(c).toMatchObject({ iss: ISSUER, aud: API_AUDIENCES, sub: 'system:serviceaccount:redis-operator:redis-operator-reconcile' });
    expect(c['kubernetes.io']).toMatchObject({ namespace: 'redis-operator', serviceaccount: { name: sa.name, uid: 'sa-uid' }, pod });
    // The kubelet's 3607 s are extended to a year, with a warning time at the requested end.
    expect(c['kubernetes.io'].warnafter).toBe(c.iat + KUBELET_TOKEN_SECONDS);
    expect(c.exp - c.iat).toBe(365 * 24 * 3600);
  });

  it('verify only what this key signed, for the API audiences, while valid', () => {
    const now = Date.now();
    const { token } = tokens.issue(sa, { expirationSeconds: 600 }, undefined, now);
    expect(tokens.verify(token, now)?.sub).toBe('system:serviceaccount:redis-operator:redis-operator-reconcile');
    expect(tokens.verify(token, now + 601_000)).toBeUndefined();
    expect(new ServiceAccountTokens().verify(token, now)).toBeUndefined();
    const [h, , s] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...claimsOf(token), sub: 'system:serviceaccount:kube-system:admin' })).toString(
      'base64url',
    );
    expect(tokens.verify(`${h}.${forged}.${s}`, now)).toBeUndefined();
    expect(tokens.verify(tokens.issue(sa, { audiences: ['vault'] }, undefined, now).token, now)).toBeUndefined();
    expect(tokens.verify('not-a-jwt', now)).toBeUndefined();
  });
});
