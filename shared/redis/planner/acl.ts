// ACL decisions: which users a node must (re)define or delete so its ACL matches the spec. Pure.
// Redis stores rules in its own normal form (ACL LIST), so the desired side is compared in that form
// too: the executor learns it by applying the rules to a throwaway user first.
import { RESERVED_USERS } from '../users.js';

/** A user as the spec gives it, its passwords read from their Secrets. */
export interface AclUserSpec {
  name: string;
  rules: string;
  passwords: string[];
}

/** `ACL LIST` lines by user name; each value is the line without its `user <name> ` head. */
export type AclTable = Map<string, string>;

export type AclStep = { kind: 'set'; user: string } | { kind: 'delete'; user: string };

/** Users the spec never manages: `default` carries spec.passwordSecret; the operator keeps its own and the exporter's. */
export const UNMANAGED_USERS: ReadonlySet<string> = new Set(RESERVED_USERS);

export function parseAclList(lines: readonly string[]): AclTable {
  const table: AclTable = new Map();
  for (const line of lines) {
    const m = /^user (\S+) (.*)$/.exec(line);
    if (m) table.set(m[1]!, m[2]!);
  }
  return table;
}

/**
 * The rule string split into ACL SETUSER arguments: on spaces, except inside a selector's
 * parentheses, which Redis takes as one argument.
 */
export function splitRules(rules: string): string[] {
  const args: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of rules) {
    if (ch === '(') depth++;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (/\s/.test(ch) && depth === 0) {
      if (current) args.push(current);
      current = '';
    } else current += ch;
  }
  if (current) args.push(current);
  return args;
}

/** The ACL SETUSER arguments that define the user from nothing (reset first: the spec is the whole user). */
export function setUserArgs(user: Pick<AclUserSpec, 'rules' | 'passwords'>): string[] {
  return ['reset', ...user.passwords.map((p) => `>${p}`), ...splitRules(user.rules)];
}

/**
 * Steps for one node: `set` for a desired user it lacks or holds in another form, `delete` for a
 * user it has that the spec does not list. `refused` users (Redis rejected their rules) are left
 * as the node has them, neither set nor deleted.
 */
export function planAcl(desired: AclTable, observed: AclTable, refused: ReadonlySet<string> = new Set()): AclStep[] {
  const steps: AclStep[] = [];
  for (const [user, line] of desired) {
    if (observed.get(user) !== line) steps.push({ kind: 'set', user });
  }
  for (const user of observed.keys()) {
    if (!desired.has(user) && !refused.has(user) && !UNMANAGED_USERS.has(user)) steps.push({ kind: 'delete', user });
  }
  return steps;
}
