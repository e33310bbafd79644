// redis.conf settings the operator writes itself. A user value for one of them would break the
// node's identity, addressing, auth or the memory contract that autoscaling relies on.
export const OPERATOR_OWNED_CONFIG = [
  'port',
  'bind',
  'protected-mode',
  'daemonize',
  'supervised',
  'pidfile',
  'logfile',
  'dir',
  'cluster-enabled',
  'cluster-config-file',
  'cluster-port',
  'cluster-node-timeout',
  'cluster-announce-ip',
  'cluster-announce-port',
  'cluster-announce-bus-port',
  'cluster-announce-tls-port',
  'cluster-announce-hostname',
  'cluster-announce-human-nodename',
  'requirepass',
  'masterauth',
  'masteruser',
  'maxmemory',
  'maxmemory-policy',
  'include',
  'rename-command',
] as const;

/** Prefixes owned as a whole, so settings added by later Redis versions stay owned too. */
export const OPERATOR_OWNED_CONFIG_PREFIXES = ['cluster-announce-'] as const;

/** Redis setting names are case-insensitive. */
export function isOperatorOwnedConfig(key: string): boolean {
  const name = key.toLowerCase();
  return (
    (OPERATOR_OWNED_CONFIG as readonly string[]).includes(name) || OPERATOR_OWNED_CONFIG_PREFIXES.some((prefix) => name.startsWith(prefix))
  );
}

/** A redis.conf directive name: letters, digits and dashes. */
export const CONFIG_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9-]*$';
/** One line of redis.conf: a newline would smuggle in another directive. */
export const CONFIG_VALUE_PATTERN = '^[^\\r\\n]*$';

/**
 * Settings a running node refuses to change (CONFIG SET answers "can't set immutable config", or
 * does not know them at all): a new value reaches a node only through its restart, so they are part
 * of the Pods' restart hash. Every other redisConfig setting is set live.
 */
export const RESTART_ONLY_CONFIG = [
  'aclfile',
  'always-show-logo',
  'appenddirname',
  'databases',
  'disable-thp',
  'enable-debug-command',
  'enable-module-command',
  'enable-protected-configs',
  'io-threads',
  'io-threads-do-reads',
  'loadmodule',
  'set-proc-title',
  'syslog-enabled',
  'syslog-facility',
  'syslog-ident',
  'tcp-backlog',
  'unixsocket',
  'unixsocketperm',
  'user',
] as const;

export function isRestartOnlyConfig(key: string): boolean {
  return (RESTART_ONLY_CONFIG as readonly string[]).includes(key.toLowerCase());
}
