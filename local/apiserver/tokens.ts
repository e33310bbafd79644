// ServiceAccount tokens as kube-apiserver issues them through TokenRequest: RS256 JWTs with the
// `kubernetes.io` claims, bound to a Pod when the kubelet asks for one; and their verification.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** --service-account-issuer and the default --api-audiences of a kubeadm cluster. */
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
export const API_AUDIENCES = [ISSUER];
/** The kubelet asks for this lifetime; the server then extends the token to a year (--service-account-extend-token-expiration). */
export const KUBELET_TOKEN_SECONDS = 3607;
const EXTENDED_SECONDS = 365 * 24 * 3600;

export interface ObjectRef {
  name: string;
  uid: string;
}

export interface KubernetesClaims {
  namespace: string;
  serviceaccount: ObjectRef;
  pod?: ObjectRef;
  node?: ObjectRef;
  warnafter?: number;
}

export interface TokenClaims {
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  iss: string;
  jti: string;
  sub: string;
  'kubernetes.io': KubernetesClaims;
}

export interface TokenRequestSpec {
  audiences?: string[];
  expirationSeconds?: number;
  boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string };
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export class ServiceAccountTokens {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly kid: string;

  /** Signs with the key in `keyFile` (written on first use), or with a key of this process. */
  constructor(keyFile?: string) {
    if (keyFile && existsSync(keyFile)) this.privateKey = createPrivateKey(readFileSync(keyFile));
    else {
      this.privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      if (keyFile) {
        mkdirSync(dirname(keyFile), { recursive: true });
        writeFileSync(keyFile, this.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      }
    }
    this.publicKey = createPublicKey(this.privateKey);
    // kube-apiserver's key id: the SHA-256 of the public key's DER form.
    this.kid = b64url(
      createHash('sha256')
        .update(this.publicKey.export({ type: 'spki', format: 'der' }))
        .digest(),
    );
  }

  /** A TokenRequest's token for the ServiceAccount, and when it expires as the requester sees it. */
  issue(
    sa: { namespace: string; name: string; uid: string },
    spec: TokenRequestSpec,
    bound?: { pod?: ObjectRef; node?: ObjectRef },
    nowMs = Date.now(),
  ): { token: string; expirationTimestamp: string } {
    const iat = Math.floor(nowMs / 1000);
    const requested = spec.expirationSeconds ?? 3600;
    const extend = bound?.pod !== undefined && requested === KUBELET_TOKEN_SECONDS;
    const kube: KubernetesClaims = { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } };
    if (bound?.pod) kube.pod = bound.pod;
    if (bound?.node) kube.node = bound.node;
    if (extend) kube.warnafter = iat + requested;
    const claims: TokenClaims = {
      aud: spec.audiences?.length ? spec.audiences : API_AUDIENCES,
      exp: iat + (extend ? EXTENDED_SECONDS : requested),
      iat,
      iss: ISSUER,
      jti: randomUUID(),
      'kubernetes.io': kube,
      nbf: iat,
      sub: `system:serviceaccount:${sa.namespace}:${sa.name}`,
    };
    const signed = `${b64url(JSON.stringify({ alg: 'RS256', kid: this.kid }))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signed}.${b64url(sign('sha256', Buffer.from(signed), this.privateKey))}`;
    return { token, expirationTimestamp: new Date((iat + requested) * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
  }

  /** The claims of a token this server signed, still valid, for the API's audiences; else undefined. */
  verify(token: string, nowMs = Date.now()): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts as [string, string, string];
    let claims: TokenClaims;
    try {
      const h = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string };
      if (h.alg !== 'RS256') return undefined;
      if (!verify('sha256', Buffer.from(`${header}.${payload}`), this.publicKey, Buffer.from(signature, 'base64url'))) return undefined;
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as TokenClaims;
    } catch {
      return undefined;
    }
    const now = Math.floor(nowMs / 1000);
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== ISSUER || !audiences.some((a) => API_AUDIENCES.includes(a))) return undefined;
    if (typeof claims.exp !== 'number' || now >= claims.exp || (typeof claims.nbf === 'number' && now < claims.nbf)) return undefined;
    if (!claims['kubernetes.io']?.serviceaccount?.name || !claims['kubernetes.io'].namespace) return undefined;
    return claims;
  }
}
