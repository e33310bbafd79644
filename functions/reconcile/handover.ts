// The Redis container's preStop hook: a master that owns slots hands them to a replica before it
// stops. Without it, a deleted or evicted master's slots fail writes until the replicas notice
// (the node timeout) and elect one, or until reconcile hears of it; and a replica still in its
// first full sync has nothing to take over with, so its shard's keys are gone once the master
// exits. CLUSTER FAILOVER, sent to the replica, is the handover Redis offers: the master pauses its
// clients, the replica catches up to the master's offset, then takes over; nothing acknowledged is
// lost. The hook picks a replica whose full sync is done, waits for one while a replica is linked,
// and leaves the ordinary failover to Redis when there is none.

/** How long the hook tries: the rest of the default 30 s grace is Redis's own shutdown. */
export const HANDOVER_SECONDS = 20;
/** A master none of whose replicas has been linked for this long has none to wait for. */
const UNLINKED_SECONDS = 3;

export interface HandoverTarget {
  port: number;
  /** The port speaks TLS: redis-cli connects with the mounted CA. */
  tls?: { caFile: string };
  /** The operator's ACL user and the env variable with its password. */
  user?: { name: string; passwordEnv: string };
}

/**
 * `redis-cli` reaches the node as the operator; CLUSTER NODES then names its peers by the ports of
 * the protocol it was asked in, so the same flags reach the replica.
 */
function cliFunction(t: HandoverTarget): string {
  const flags = [
    '--no-auth-warning',
    '-p',
    String(t.port),
    ...(t.tls ? ['--tls', '--cacert', t.tls.caFile] : []),
    ...(t.user ? ['--user', t.user.name, '--pass', `"$${t.user.passwordEnv}"`] : []),
  ];
  return `cli() { timeout 3 redis-cli ${flags.join(' ')} "$@"; }`;
}

/**
 * `unreachable` (no CLUSTER NODES from this node), `none` (not a master with slots, or no replica
 * known), `unlinked` (replicas known, none linked) or the `host:port` of each linked replica.
 */
const REPLICAS = [
  `replicas() {`,
  `  cli CLUSTER NODES | awk '`,
  `    { split($2, a, "@"); n = split(a[1], hp, ":"); addr[NR] = hp[1] ":" hp[n]; of[NR] = $4; flags[NR] = $3; link[NR] = $8 }`,
  `    $3 ~ /myself/ { me = $1; owns = ($3 ~ /master/ && NF >= 9) }`,
  `    END {`,
  `      if (me == "") { print "unreachable"; exit }`,
  `      if (!owns) { print "none"; exit }`,
  `      known = 0; linked = 0`,
  `      for (i = 1; i <= NR; i++) {`,
  `        if (of[i] != me || flags[i] ~ /(^|,)fail($|,)/) continue`,
  `        known++`,
  `        if (link[i] == "connected") { linked++; print addr[i] }`,
  `      }`,
  `      if (known == 0) print "none"; else if (linked == 0) print "unlinked"`,
  `    }'`,
  `}`,
];

/**
 * What `replicas` says, or the `host port` of a replica whose own link to its master is up with
 * no sync in progress, or `syncing`. The replica is asked, not the master: the master names its
 * replicas by the address their connection came from, which need not be the one the cluster knows.
 */
const PICK = [
  `pick() {`,
  `  found=$(replicas)`,
  `  case "$found" in unreachable|none|unlinked) echo "$found"; return ;; esac`,
  `  for r in $found; do`,
  `    case "$(cli -h "\${r%:*}" -p "\${r##*:}" INFO replication | tr -d '\\r')" in`,
  `      *master_link_status:up*master_sync_in_progress:0*) echo "\${r%:*} \${r##*:}"; return ;;`,
  `    esac`,
  `  done`,
  `  echo syncing`,
  `}`,
];

/**
 * The script: exit 0 once this node is a replica (or was never a master with slots), exit 1 with
 * the reason when the node does not answer or the time is up, so the kubelet records it
 * (FailedPreStopHook).
 */
export function handoverScript(t: HandoverTarget): string {
  return [
    cliFunction(t),
    ...REPLICAS,
    ...PICK,
    `end=$(( $(date +%s) + ${HANDOVER_SECONDS} )); unlinked=; state=start`,
    `while [ "$(date +%s)" -lt "$end" ]; do`,
    `  [ "$(cli ROLE | head -n 1)" = slave ] && exit 0`,
    `  state=$(pick)`,
    `  case "$state" in`,
    `    unreachable) echo "this node does not answer CLUSTER NODES: nothing to hand over"; exit 1 ;;`,
    `    none) exit 0 ;;`,
    `    unlinked) unlinked=\${unlinked:-$(date +%s)}; [ $(( $(date +%s) - unlinked )) -ge ${UNLINKED_SECONDS} ] && exit 0 ;;`,
    `    syncing) unlinked= ;;`,
    `    *) unlinked=`,
    `       set -- $state`,
    `       cli -h "$1" -p "$2" CLUSTER FAILOVER >/dev/null`,
    // A manual failover Redis gives up after 5 s when the replica never reaches the offset.
    `       for i in $(seq 30); do [ "$(cli ROLE | head -n 1)" = slave ] && exit 0; sleep 0.2; done ;;`,
    `  esac`,
    `  sleep 0.2`,
    `done`,
    `echo "no replica took over the slots within ${HANDOVER_SECONDS} s (last: $state)"; exit 1`,
  ].join('\n');
}
