// RBAC as kube-apiserver's authorizer decides (plugin/pkg/auth/authorizer/rbac): the rules of the
// roles bound to a user, checked against a request's attributes. Pure: objects in, a decision out.
import type { StatusCause } from './errors.js';
import type { RequestInfo } from './request-info.js';
import { matchesLabelSelector, type LabelSelector } from './selectors.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** What kube-apiserver's RequestInfo and authenticator say about a request. */
export interface Attributes extends RequestInfo {
  user: UserInfo;
}

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}

export interface RoleObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: PolicyRule[];
  aggregationRule?: { clusterRoleSelectors?: LabelSelector[] };
}

export interface BindingObject {
  metadata: { name: string; namespace?: string };
  roleRef: { kind: string; name: string; apiGroup?: string };
  subjects?: Subject[];
}

/** The RBAC objects the API server holds. */
export interface RbacObjects {
  clusterRoles(): RoleObject[];
  clusterRoleBindings(): BindingObject[];
  roles(namespace: string): RoleObject[];
  roleBindings(namespace: string): BindingObject[];
}

export interface Decision {
  allowed: boolean;
  /** Why: the binding that allowed it, or the errors met on the way (`RBAC: ...`); often empty. */
  reason: string;
}

export const SYSTEM_MASTERS = 'system:masters';
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** RBAC objects are named as path segments (ValidateRBACName), so `system:discovery` is valid. */
export function rbacNameProblem(name: string): StatusCause | undefined {
  const why =
    name === '.' || name === '..'
      ? `may not be '${name}'`
      : name.includes('/')
        ? "may not contain '/'"
        : name.includes('%')
          ? "may not contain '%'"
          : '';
  return why
    ? { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: ${why}` }
    : undefined;
}
const SA_PREFIX = 'system:serviceaccount:';

export const serviceAccountUsername = (namespace: string, name: string): string => `${SA_PREFIX}${namespace}:${name}`;

/** `system:serviceaccount:<ns>:<name>` split, or undefined for any other user name. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const [namespace, name, ...more] = username.slice(SA_PREFIX.length).split(':');
  if (!namespace || !name || more.length) return undefined;
  return { namespace, name };
}

export const serviceAccountGroups = (namespace: string): string[] => ['system:serviceaccounts', `system:serviceaccounts:${namespace}`];

const has = (list: string[] | undefined, want: string): boolean => !!list?.some((x) => x === '*' || x === want);

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  return (rule.resources ?? []).some(
    (r) => r === '*' || r === combined || (subresource !== '' && r.length === subresource.length + 2 && r === `*/${subresource}`),
  );
}

function nonResourceUrlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))));
}

/** One rule against one request, as rbac's RuleAllows checks it. */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.resourceRequest) return nonResourceUrlMatches(rule, a.path);
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const names = rule.resourceNames ?? [];
  return (
    has(rule.apiGroups, a.apiGroup) && resourceMatches(rule, combined, a.subresource) && (names.length === 0 || names.includes(a.name))
  );
}

function appliesTo(user: UserInfo, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.username === s.name;
    case 'Group':
      return user.groups.includes(s.name ?? '');
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return ns !== '' && user.username === serviceAccountUsername(ns, s.name ?? '');
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

/** A ClusterRole's rules; an aggregated one has those of the ClusterRoles its selectors pick. */
function clusterRoleRules(objects: RbacObjects, role: RoleObject): PolicyRule[] {
  const selectors = role.aggregationRule?.clusterRoleSelectors;
  if (!selectors) return role.rules ?? [];
  const picked = objects
    .clusterRoles()
    .filter((r) => r !== role && !r.aggregationRule && selectors.some((s) => matchesLabelSelector(r.metadata.labels, s, 'nothing')));
  return picked.flatMap((r) => r.rules ?? []);
}

function roleRules(objects: RbacObjects, ref: BindingObject['roleRef'], namespace: string): PolicyRule[] | string {
  if (ref.kind === 'ClusterRole') {
    const role = objects.clusterRoles().find((r) => r.metadata.name === ref.name);
    return role ? clusterRoleRules(objects, role) : `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found`;
  }
  if (ref.kind === 'Role') {
    const role = objects.roles(namespace).find((r) => r.metadata.name === ref.name);
    return role ? (role.rules ?? []) : `role.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found`;
  }
  return `unsupported role reference kind: ${JSON.stringify(ref.kind)}`;
}

/**
 * The RBAC authorizer's decision, preceded by the system:masters short-cut every kube-apiserver
 * has. Cluster role bindings first, then the role bindings of the request's namespace.
 */
export function authorize(a: Attributes, objects: RbacObjects): Decision {
  if (a.user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
  const errors: string[] = [];
  const visit = (binding: BindingObject, namespace: string, kind: string): string | undefined => {
    const subject = (binding.subjects ?? []).find((s) => appliesTo(a.user, s, namespace));
    if (!subject) return undefined;
    const rules = roleRules(objects, binding.roleRef, namespace);
    if (typeof rules === 'string') {
      errors.push(rules);
      return undefined;
    }
    if (!rules.some((r) => ruleAllows(a, r))) return undefined;
    const name = namespace ? `${binding.metadata.name}/${namespace}` : binding.metadata.name;
    const role = `${binding.roleRef.kind} ${JSON.stringify(binding.roleRef.name)}`;
    return `RBAC: allowed by ${kind} ${JSON.stringify(name)} of ${role} to ${describeSubject(subject, namespace)}`;
  };
  for (const b of objects.clusterRoleBindings()) {
    const reason = visit(b, '', 'ClusterRoleBinding');
    if (reason) return { allowed: true, reason };
  }
  if (a.namespace) {
    for (const b of objects.roleBindings(a.namespace)) {
      const reason = visit(b, a.namespace, 'RoleBinding');
      if (reason) return { allowed: true, reason };
    }
  }
  return { allowed: false, reason: errors.length ? `RBAC: ${aggregate(errors)}` : '' };
}

/** utilerrors.NewAggregate's text: one error as is, several in brackets. */
const aggregate = (errors: string[]): string => (errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`);

/** The message of kube-apiserver's 403 (responsewriters.Forbidden wrapped in NewForbidden). */
export function forbiddenMessage(a: Attributes, reason: string): string {
  const user = JSON.stringify(a.user.username);
  let why: string;
  if (!a.resourceRequest) why = `User ${user} cannot ${a.verb} path ${JSON.stringify(a.path)}`;
  else {
    const resource = JSON.stringify(a.subresource ? `${a.resource}/${a.subresource}` : a.resource);
    const scope = a.namespace ? `in the namespace ${JSON.stringify(a.namespace)}` : 'at the cluster scope';
    why = `User ${user} cannot ${a.verb} resource ${resource} in API group ${JSON.stringify(a.apiGroup)} ${scope}`;
  }
  if (reason) why = `${why}: ${reason}`;
  if (!a.resourceRequest || !a.resource) return `forbidden: ${why}`;
  const gr = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  return a.name ? `${gr} ${JSON.stringify(a.name)} is forbidden: ${why}` : `${gr} is forbidden: ${why}`;
}
