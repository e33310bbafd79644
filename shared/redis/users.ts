// The two ACL users the operator keeps on every node of a cluster with a password: its own, with
// only the commands shared/redis sends, and the exporter's, read-only. Neither is `default`, so a
// person can rotate the default password (spec.passwordSecret) while the operator still gets in,
// and the exporter's scrape, a new connection each time, never sees the switch.
// Each is defined in the node's start arguments, so a restarted node has them before anyone asks.

import { RESERVED_ACL_USERS } from '../api/fields.js';

export const OPERATOR_USER: (typeof RESERVED_ACL_USERS)[1] = 'redis-operator';
export const EXPORTER_USER: (typeof RESERVED_ACL_USERS)[2] = 'redis-exporter';

/**
 * The operator's commands. Keys (`~*`): MIGRATE moves them and the target runs RESTORE-ASKING
 * (after SELECT 0) as this user, and MEMORY USAGE sizes them. FLUSHALL empties a master that leaves
 * with stray keys. ACL: spec.acl.users and the default password's rotation; no user it creates can
 * be given more than the person writing spec.acl.users asked for.
 */
export const OPERATOR_RULES: readonly string[] = [
  '~*',
  'resetchannels',
  '-@all',
  '+cluster',
  '+info',
  '+ping',
  '+role',
  '+dbsize',
  '+config|get',
  '+config|set',
  '+acl|setuser',
  '+acl|deluser',
  '+acl|list',
  '+acl|getuser',
  '+migrate',
  '+restore-asking',
  '+select',
  '+asking',
  '+memory|usage',
  '+flushall',
  '+client|setname',
];

/**
 * What redis_exporter sends for its default metrics, and nothing else; no key access. Not CONFIG
 * GET: it answers `masterauth` and `requirepass` in clear, so the exporter runs with
 * EXPORTER_ARGS and takes maxmemory and the rest from INFO.
 */
export const EXPORTER_RULES: readonly string[] = [
  'resetchannels',
  '-@all',
  '+ping',
  '+info',
  '+select',
  '+dbsize',
  '+cluster|info',
  '+client|list',
  '+client|setname',
  '+slowlog',
  '+latency',
];

/** redis_exporter's flags for its user: no CONFIG command (see EXPORTER_RULES). */
export const EXPORTER_ARGS: readonly string[] = ['--config-command=-'];

/** Users spec.acl.users may not name (the spec's validation refuses them): the operator manages them. */
export const RESERVED_USERS: readonly string[] = RESERVED_ACL_USERS;

/** `--user` arguments of redis-server defining `name` with one password (a Pod's `$(VAR)` reference is fine). */
export function userArgs(name: string, password: string, rules: readonly string[]): string[] {
  return ['--user', name, 'on', `>${password}`, ...rules];
}

/** Who a connection logs in as: a named user, or `default` when `username` is absent. */
export interface Credentials {
  username?: string;
  password: string;
}
