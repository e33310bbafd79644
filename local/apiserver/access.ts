// Who is asking and whether they may: ServiceAccount token authentication, impersonation
// (`kubectl --as`), RBAC authorization, the access reviews that report it, and TokenRequest
// (`serviceaccounts/token`), as kube-apiserver does them.
import type { IncomingMessage } from 'node:http';
import type { ApiCore } from './core.js';
import { ApiError, badRequest, notFound } from './errors.js';
import {
  authorize,
  forbiddenMessage,
  parseServiceAccountUsername,
  serviceAccountGroups,
  serviceAccountUsername,
  SYSTEM_MASTERS,
  type Attributes,
  type BindingObject,
  type Decision,
  type RbacObjects,
  type RoleObject,
  type UserInfo,
} from './rbac.js';
import { requestInfo, type RequestInfo } from './request-info.js';
import type { Obj } from './store.js';
import { API_AUDIENCES, type ServiceAccountTokens, type TokenRequestSpec } from './tokens.js';

/** --authorization-mode: RBAC, or AlwaysAllow (every request, whoever makes it). */
export type AuthorizationMode = 'RBAC' | 'AlwaysAllow';

const AUTHENTICATED = 'system:authenticated';

/**
 * A request without credentials: what kube-apiserver's insecure port made of it (system:masters),
 * so kubectl and helm pointed at the platform without a kubeconfig user keep working.
 */
export const UNSECURED: UserInfo = { username: 'system:unsecured', groups: [SYSTEM_MASTERS, AUTHENTICATED] };

export const unauthorized = (): ApiError => new ApiError(401, 'Unauthorized', 'Unauthorized');

export class Access {
  constructor(
    private readonly core: ApiCore,
    readonly tokens: ServiceAccountTokens,
    readonly mode: AuthorizationMode,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  /** The user behind the request, after impersonation; 401 for a bad credential, 403 for a refused impersonation. */
  authenticate(req: IncomingMessage): UserInfo {
    const header = req.headers.authorization;
    let user = UNSECURED;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) throw unauthorized();
      user = this.userOfToken(m[1]!);
    }
    return this.impersonate(req, user);
  }

  /** The request's attributes, refused with kube-apiserver's 403 when the user may not. */
  authorizeRequest(req: IncomingMessage, url: URL, user: UserInfo): RequestInfo {
    const info = requestInfo(req.method ?? 'GET', url);
    const a: Attributes = { ...info, user };
    const decision = this.decide(a);
    if (!decision.allowed) {
      const error = forbiddenError(a, decision.reason);
      this.log(`RBAC: ${req.method} ${url.pathname}: ${error.message}`);
      throw error;
    }
    return info;
  }

  decide(a: Attributes): Decision {
    if (this.mode === 'AlwaysAllow') return { allowed: true, reason: '' };
    return authorize(a, this.rbacObjects());
  }

  private userOfToken(token: string): UserInfo {
    const claims = this.tokens.verify(token);
    if (!claims) throw unauthorized();
    const k = claims['kubernetes.io'];
    // A bound token is only as good as the objects it names: gone or replaced, it is refused.
    const sa = this.stored('serviceaccounts', k.namespace, k.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid) throw unauthorized();
    if (k.pod) {
      const pod = this.stored('pods', k.namespace, k.pod.name);
      // A terminating Pod keeps its identity through its grace period, as kube-apiserver's validator allows.
      const deleted = pod?.metadata.deletionTimestamp && Date.parse(String(pod.metadata.deletionTimestamp)) < Date.now();
      if (!pod || pod.metadata.uid !== k.pod.uid || deleted) throw unauthorized();
    }
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`] };
    if (k.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
    }
    if (k.node) {
      extra['authentication.kubernetes.io/node-name'] = [k.node.name];
      extra['authentication.kubernetes.io/node-uid'] = [k.node.uid];
    }
    return {
      username: serviceAccountUsername(k.namespace, k.serviceaccount.name),
      uid: k.serviceaccount.uid,
      groups: [...serviceAccountGroups(k.namespace), AUTHENTICATED],
      extra,
    };
  }

  /** Impersonate-User / Impersonate-Group, each checked as the `impersonate` verb on users, serviceaccounts, groups. */
  private impersonate(req: IncomingMessage, user: UserInfo): UserInfo {
    const asUser = req.headers['impersonate-user'];
    const rawGroups = req.headers['impersonate-group'];
    const asGroups = (Array.isArray(rawGroups) ? rawGroups : rawGroups ? [rawGroups] : []).flatMap((g) => g.split(/,\s*/));
    if (typeof asUser !== 'string' || !asUser) {
      if (asGroups.length) throw badRequest('requested [{Group  ' + asGroups[0] + '  }] without impersonating a user');
      return user;
    }
    const check = (resource: string, name: string, namespace = ''): void => {
      const a: Attributes = {
        user,
        verb: 'impersonate',
        resourceRequest: true,
        path: '',
        apiGroup: '',
        apiVersion: 'v1',
        resource,
        subresource: '',
        namespace,
        name,
      };
      const decision = this.decide(a);
      if (!decision.allowed) throw forbiddenError(a, decision.reason);
    };
    const sa = parseServiceAccountUsername(asUser);
    if (sa) check('serviceaccounts', sa.name, sa.namespace);
    else check('users', asUser);
    for (const g of asGroups) check('groups', g);
    const groups = asGroups.length || !sa ? [...asGroups] : serviceAccountGroups(sa.namespace);
    if (asUser !== 'system:anonymous' && !groups.includes(AUTHENTICATED)) groups.push(AUTHENTICATED);
    return { username: asUser, groups };
  }

  private stored(plural: string, namespace: string, name: string): Obj | undefined {
    return this.core.store.get(this.core.type('', 'v1', plural).storageKey, namespace, name);
  }

  private rbacObjects(): RbacObjects {
    const store = this.core.store;
    const key = (plural: string): string => this.core.type('rbac.authorization.k8s.io', 'v1', plural).storageKey;
    return {
      clusterRoles: () => store.list(key('clusterroles')) as unknown as RoleObject[],
      clusterRoleBindings: () => store.list(key('clusterrolebindings')) as unknown as BindingObject[],
      roles: (ns) => store.list(key('roles'), ns) as unknown as RoleObject[],
      roleBindings: (ns) => store.list(key('rolebindings'), ns) as unknown as BindingObject[],
    };
  }

  /** A SelfSubjectAccessReview or SubjectAccessReview answered for its subject. */
  review(kind: string, body: Obj, requester: UserInfo): { allowed: boolean; reason?: string } {
    const spec = (body.spec ?? {}) as Obj;
    const subject: UserInfo =
      kind === 'SelfSubjectAccessReview'
        ? requester
        : { username: String(spec.user ?? ''), uid: spec.uid, groups: (spec.groups as string[] | undefined) ?? [], extra: spec.extra };
    const r = spec.resourceAttributes as Record<string, string | undefined> | undefined;
    const n = spec.nonResourceAttributes as Record<string, string | undefined> | undefined;
    if (!r && !n)
      throw new ApiError(
        422,
        'Invalid',
        `${kind}.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified`,
      );
    const a: Attributes = {
      user: subject,
      verb: (r ?? n)!.verb ?? '',
      resourceRequest: !!r,
      path: n?.path ?? '',
      apiGroup: r?.group ?? '',
      apiVersion: r?.version ?? '',
      resource: r?.resource ?? '',
      subresource: r?.subresource ?? '',
      namespace: r?.namespace ?? '',
      name: r?.name ?? '',
    };
    const decision = this.decide(a);
    return { allowed: decision.allowed, ...(decision.reason ? { reason: decision.reason } : {}) };
  }

  /** POST serviceaccounts/{name}/token: a TokenRequest answered with a signed token. */
  tokenRequest(namespace: string, name: string, body: Obj | undefined): Obj {
    const sa = this.stored('serviceaccounts', namespace, name);
    if (!sa) throw notFound('serviceaccounts', '', name);
    const spec = (body?.spec ?? {}) as TokenRequestSpec;
    if (spec.expirationSeconds !== undefined && spec.expirationSeconds < 600) {
      throw new ApiError(
        422,
        'Invalid',
        `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${spec.expirationSeconds}: may not specify a duration less than 10 minutes`,
      );
    }
    const ref = spec.boundObjectRef;
    let bound: Parameters<ServiceAccountTokens['issue']>[2];
    if (ref) {
      if (ref.kind !== 'Pod') throw badRequest(`cannot bind token to object of type ${ref.kind}`);
      const pod = this.stored('pods', namespace, ref.name ?? '');
      if (!pod || (ref.uid && ref.uid !== pod.metadata.uid)) throw notFound('pods', '', ref.name ?? '');
      const nodeName = pod.spec?.nodeName as string | undefined;
      const node = nodeName ? this.core.store.get(this.core.type('', 'v1', 'nodes').storageKey, undefined, nodeName) : undefined;
      bound = {
        pod: { name: pod.metadata.name, uid: pod.metadata.uid },
        ...(node ? { node: { name: node.metadata.name, uid: node.metadata.uid } } : {}),
      };
    }
    const { token, expirationTimestamp } = this.tokens.issue({ namespace, name, uid: sa.metadata.uid }, spec, bound);
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: {
        audiences: spec.audiences?.length ? spec.audiences : API_AUDIENCES,
        expirationSeconds: spec.expirationSeconds ?? 3600,
        boundObjectRef: ref ?? null,
      },
      status: { token, expirationTimestamp },
    };
  }
}

/** kube-apiserver's 403: the message of responsewriters.Forbidden, the details of NewForbidden. */
export function forbiddenError(a: Attributes, reason: string): ApiError {
  const details =
    a.resourceRequest && a.resource
      ? { ...(a.apiGroup ? { group: a.apiGroup } : {}), kind: a.resource, ...(a.name ? { name: a.name } : {}) }
      : {};
  return new ApiError(403, 'Forbidden', forbiddenMessage(a, reason), details);
}
