// Pure translation of a container spec into a host process: which program runs, with which argv,
// env and working directory. No I/O here; the Pod worker supplies the looked-up objects.
import path from 'node:path';
import type { V1Container, V1EnvVar, V1Pod, V1VolumeMount } from '@kubernetes/client-node';

export type ContainerKind = 'redis' | 'exporter' | 'other';

/** Which images the kubelet can run: Redis images and the redis_exporter sidecar. */
export function classifyImage(image: string | undefined): ContainerKind {
  const name = (image ?? '').toLowerCase();
  if (name.includes('redis_exporter') || name.includes('redis-exporter')) return 'exporter';
  if (name.includes('redis')) return 'redis';
  return 'other';
}

export const RUNNABLE_IMAGES_MESSAGE =
  'only Redis images (name contains "redis", run as the host redis-server) and the redis_exporter ' +
  'sidecar (name contains "redis_exporter" or "redis-exporter") can run on the local platform';

/**
 * `$(VAR)` expansion as Kubernetes does it: a defined variable is replaced, an undefined one is left
 * as written, `$$` is an escaped `$`.
 */
export function expandVars(input: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = vars.get(name);
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/** Objects the env and volumes refer to; undefined = not found. */
export interface ObjectLookup {
  configMap(name: string): { data?: Record<string, string>; binaryData?: Record<string, string> } | undefined;
  secret(name: string): { data?: Record<string, string>; stringData?: Record<string, string> } | undefined;
}

export class ContainerConfigError extends Error {}

/** The downward API values of a Pod, resolved by the kubelet (the IPs are the kubelet's own). */
export interface PodFacts {
  podIP: string;
  hostIP: string;
}

export function fieldRefValue(pod: V1Pod, facts: PodFacts, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) {
    const map = keyed[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[keyed[2]!] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? 'default';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIP;
    default:
      throw new ContainerConfigError(`env: unsupported fieldRef.fieldPath "${fieldPath}"`);
  }
}

function secretValue(secret: NonNullable<ReturnType<ObjectLookup['secret']>>, key: string): string | undefined {
  const encoded = secret.data?.[key];
  if (encoded !== undefined) return Buffer.from(encoded, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

// The quantity as written; divisors are not applied (nothing the operator reads needs them).
function resourceFieldValue(container: V1Container, resource: string): string {
  const [section, name] = resource.split('.') as [string, string];
  const source = section === 'limits' ? container.resources?.limits : container.resources?.requests;
  const raw = source?.[name];
  if (raw === undefined) return name === 'cpu' ? '1' : '0';
  return String(raw);
}

/**
 * The container's environment in Kubernetes order: envFrom first, then env, each value expanded
 * against the variables defined before it. Missing non-optional references are a config error.
 */
export function resolveEnv(pod: V1Pod, container: V1Container, facts: PodFacts, objects: ObjectLookup): Map<string, string> {
  const vars = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? '';
    if (source.configMapRef) {
      const cm = objects.configMap(source.configMapRef.name ?? '');
      if (!cm) {
        if (source.configMapRef.optional) continue;
        throw new ContainerConfigError(`configmap "${source.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) vars.set(prefix + k, v);
    } else if (source.secretRef) {
      const secret = objects.secret(source.secretRef.name ?? '');
      if (!secret) {
        if (source.secretRef.optional) continue;
        throw new ContainerConfigError(`secret "${source.secretRef.name}" not found`);
      }
      const keys = new Set([...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})]);
      for (const k of keys) vars.set(prefix + k, secretValue(secret, k) ?? '');
    }
  }
  for (const env of container.env ?? []) vars.set(env.name, envValue(pod, container, env, facts, objects, vars));
  return vars;
}

function envValue(
  pod: V1Pod,
  container: V1Container,
  env: V1EnvVar,
  facts: PodFacts,
  objects: ObjectLookup,
  vars: Map<string, string>,
): string {
  if (env.value !== undefined) return expandVars(env.value, vars);
  const from = env.valueFrom;
  if (!from) return '';
  if (from.fieldRef) return fieldRefValue(pod, facts, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) return resourceFieldValue(container, from.resourceFieldRef.resource);
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const secret = objects.secret(ref.name ?? '');
    const value = secret ? secretValue(secret, ref.key) : undefined;
    if (value !== undefined) return value;
    if (ref.optional) return '';
    throw new ContainerConfigError(
      secret ? `env ${env.name}: couldn't find key ${ref.key} in Secret ${ref.name}` : `env ${env.name}: secret "${ref.name}" not found`,
    );
  }
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const cm = objects.configMap(ref.name ?? '');
    const value = cm?.data?.[ref.key];
    if (value !== undefined) return value;
    if (ref.optional) return '';
    throw new ContainerConfigError(
      cm ? `env ${env.name}: couldn't find key ${ref.key} in ConfigMap ${ref.name}` : `env ${env.name}: configmap "${ref.name}" not found`,
    );
  }
  throw new ContainerConfigError(`env ${env.name}: unsupported valueFrom`);
}

/** A container path (a volumeMount's mountPath) and the host path that stands for it. */
export interface PathMapping {
  mountPath: string;
  hostPath: string;
}

export function mappingsFor(mounts: V1VolumeMount[] | undefined, volumeDir: (volumeName: string) => string | undefined): PathMapping[] {
  const out: PathMapping[] = [];
  for (const mount of mounts ?? []) {
    const dir = volumeDir(mount.name);
    if (!dir || !mount.mountPath || mount.mountPath === '/') continue;
    const mountPath = mount.mountPath.replace(/\/+$/, '');
    out.push({ mountPath, hostPath: mount.subPath ? path.join(dir, mount.subPath) : dir });
  }
  // Longest first, so /data/conf wins over /data.
  return out.sort((a, b) => b.mountPath.length - a.mountPath.length);
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The mapping rule: every occurrence of a mountPath that begins a word (start of text, or after
 * whitespace, a quote, `=`, `:`, `,` or `(`) and ends the path (end of text, `/`, whitespace, a
 * quote, `;`, `,` or `)`) is replaced by the host directory that stands for it.
 */
export function rewritePaths(text: string, mappings: readonly PathMapping[]): string {
  if (mappings.length === 0) return text;
  const alternatives = mappings.map((m) => escapeRegExp(m.mountPath)).join('|');
  const re = new RegExp(`(^|[\\s'"=:,(])(${alternatives})(?=$|[/\\s'";,)])`, 'gm');
  return text.replace(re, (_all, before: string, mountPath: string) => {
    const mapping = mappings.find((m) => m.mountPath === mountPath)!;
    return before + mapping.hostPath;
  });
}

/** What the kubelet will run for a container. */
export interface ProcessPlan {
  /** Program name or path, looked up in PATH when not absolute. */
  file: string;
  args: string[];
  env: Record<string, string>;
}

export const isWildcardAddress = (addr: string): boolean => ['0.0.0.0', '*', '::', '-::*', '::*'].includes(addr);

/** Kubernetes argv: command replaces the entrypoint, args replace the image's default arguments. */
export function redisArgv(container: V1Container): string[] {
  let argv = container.command?.length ? [...container.command, ...(container.args ?? [])] : [...(container.args ?? ['redis-server'])];
  // The Redis images' docker-entrypoint.sh prepends redis-server to flags and config files.
  if (argv[0] && path.basename(argv[0]) === 'docker-entrypoint.sh') argv = argv.slice(1);
  if (argv.length === 0) argv = ['redis-server'];
  if (argv[0]!.startsWith('-') || argv[0]!.endsWith('.conf')) argv = ['redis-server', ...argv];
  return argv;
}

/** Addresses that inside a Pod mean the Pod itself: wildcards and loopback. */
export const isPodLocalAddress = (addr: string): boolean =>
  isWildcardAddress(addr) || ['127.0.0.1', 'localhost', '::1', '-::1'].includes(addr);

/**
 * A `redis-server` run: bound to the Pod's IP and never daemonized, so the kubelet sees it exit.
 * Bind addresses that in a Pod mean the Pod itself (wildcards, loopback) become the Pod IP; other
 * explicit addresses are kept; no `--bind` at all gets `--bind <podIP>` (after a config file,
 * so it wins over the file's `bind`).
 */
export function redisServerArgs(args: string[], podIP: string): string[] {
  const out = [...args];
  let bound = false;
  for (let i = 0; i < out.length; i++) {
    if (out[i] !== '--bind') continue;
    let end = i + 1;
    while (end < out.length && !out[end]!.startsWith('--')) end++;
    const values = [...new Set(out.slice(i + 1, end).map((v) => (isPodLocalAddress(v) ? podIP : v)))];
    out.splice(i + 1, end - i - 1, ...(values.length ? values : [podIP]));
    bound = true;
  }
  if (!bound) out.push('--bind', podIP);
  out.push('--daemonize', 'no');
  return out;
}

/** `redis-cli` without `-h` talks to 127.0.0.1; in a Pod that means the Pod itself. */
export function redisCliArgs(args: string[], podIP: string): string[] {
  if (args.some((a) => a === '-h' || a === '-u' || a.startsWith('redis://') || a.startsWith('rediss://'))) return args;
  return ['-h', podIP, ...args];
}

const listenFlags = ['web.listen-address'];
const addrFlags = ['redis.addr'];

function flagName(arg: string): string | undefined {
  const m = /^--?([A-Za-z0-9._-]+)(=.*)?$/.exec(arg);
  return m?.[1];
}

/** `:9121` or `0.0.0.0:9121` listen on the Pod's IP. */
export function podListenAddress(value: string, podIP: string): string {
  const m = /^(.*):(\d+)$/.exec(value);
  if (!m) return value;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return host === '' || isWildcardAddress(host) ? `${podIP}:${m[2]}` : value;
}

/** `localhost` in a Pod is the Pod itself. */
export function podRedisAddress(value: string, podIP: string): string {
  return value.replace(
    /^(rediss?:\/\/)?([^@/]*@)?(localhost|127\.0\.0\.1)(?=:|$|\/)/,
    (_all, scheme: string | undefined, auth: string | undefined) => (scheme ?? '') + (auth ?? '') + podIP,
  );
}

/**
 * The redis_exporter run: flags and env keep their meaning, addresses move to the Pod's IP, and a
 * missing listen address (default `:9121`) or Redis address (default `redis://localhost:6379`)
 * is made explicit for the same reason.
 */
export function exporterArgv(
  container: V1Container,
  env: Record<string, string>,
  podIP: string,
): { args: string[]; env: Record<string, string> } {
  const argv = container.command?.length
    ? [...container.command, ...(container.args ?? [])]
    : ['/redis_exporter', ...(container.args ?? [])];
  const args = argv.slice(1);
  const outEnv = { ...env };
  let hasListen = false;
  let hasAddr = false;
  for (let i = 0; i < args.length; i++) {
    const name = flagName(args[i]!);
    if (!name) continue;
    const isListen = listenFlags.includes(name);
    const isAddr = addrFlags.includes(name);
    if (!isListen && !isAddr) continue;
    const map = (v: string): string => (isListen ? podListenAddress(v, podIP) : podRedisAddress(v, podIP));
    const eq = args[i]!.indexOf('=');
    if (eq >= 0) args[i] = args[i]!.slice(0, eq + 1) + map(args[i]!.slice(eq + 1));
    else if (i + 1 < args.length) args[i + 1] = map(args[++i]!);
    if (isListen) hasListen = true;
    else hasAddr = true;
  }
  if (outEnv.REDIS_EXPORTER_WEB_LISTEN_ADDRESS !== undefined) {
    outEnv.REDIS_EXPORTER_WEB_LISTEN_ADDRESS = podListenAddress(outEnv.REDIS_EXPORTER_WEB_LISTEN_ADDRESS, podIP);
    hasListen = true;
  }
  if (outEnv.REDIS_ADDR !== undefined) {
    outEnv.REDIS_ADDR = podRedisAddress(outEnv.REDIS_ADDR, podIP);
    hasAddr = true;
  }
  if (!hasListen) args.push(`--web.listen-address=${podIP}:9121`);
  if (!hasAddr) outEnv.REDIS_ADDR = `redis://${podIP}:6379`;
  return { args, env: outEnv };
}

/** What an image of the platform's own runs: its entrypoint, as a pulled image's config gives it. */
export interface ImageEntrypoint {
  file: string;
  args: string[];
}

/** Images the kubelet runs besides Redis and redis_exporter (the operator's own, Knative's queue-proxy). */
export interface ImageStore {
  /** The image's entrypoint, pulling (building) it first when needed; undefined for an image the store does not have. */
  pull(image: string): Promise<ImageEntrypoint | undefined>;
}

export interface PlanInput {
  pod: V1Pod;
  container: V1Container;
  env: Map<string, string>;
  podIP: string;
  mappings: readonly PathMapping[];
  /** Absolute path of the exporter binary, or undefined when not installed. */
  exporterBinary?: string;
  redisServerBinary: string;
  redisCliBinary: string;
  baseEnv: Record<string, string>;
  /** Set when the image came from the ImageStore. */
  entrypoint?: ImageEntrypoint;
}

export type PlanResult = { ok: true; plan: ProcessPlan } | { ok: false; reason: string; message: string };

/** The whole translation: argv, `$(VAR)` expansion, path rewriting, address mapping. */
export function planProcess(input: PlanInput): PlanResult {
  const { container, env, podIP, mappings } = input;
  const kind = classifyImage(container.image);
  const expand = (s: string): string => rewritePaths(expandVars(s, env), mappings);
  const containerEnv: Record<string, string> = {};
  for (const [k, v] of env) containerEnv[k] = rewritePaths(v, mappings);
  const fullEnv = { ...input.baseEnv, ...containerEnv };
  if (input.entrypoint) {
    // `command` replaces the entrypoint, `args` its default arguments (none here).
    const argv = container.command?.length ? container.command.map(expand) : [input.entrypoint.file, ...input.entrypoint.args];
    return { ok: true, plan: { file: argv[0]!, args: [...argv.slice(1), ...(container.args ?? []).map(expand)], env: fullEnv } };
  }
  if (kind === 'other') {
    return { ok: false, reason: 'ImageNotRunnable', message: `image "${container.image ?? ''}" cannot run: ${RUNNABLE_IMAGES_MESSAGE}` };
  }
  if (kind === 'exporter') {
    if (!input.exporterBinary) {
      return {
        ok: false,
        reason: 'ExporterNotInstalled',
        message:
          'the redis_exporter binary is not installed: install the "prometheus-redis-exporter" package (apt-get install prometheus-redis-exporter)',
      };
    }
    const expandedContainer: V1Container = {
      ...container,
      command: container.command?.map(expand),
      args: container.args?.map(expand),
    };
    const mapped = exporterArgv(expandedContainer, fullEnv, podIP);
    return { ok: true, plan: { file: input.exporterBinary, args: mapped.args, env: mapped.env } };
  }
  const argv = redisArgv({ ...container, command: container.command?.map(expand), args: container.args?.map(expand) });
  const program = path.basename(argv[0]!);
  const rest = argv.slice(1);
  if (program === 'redis-server')
    return { ok: true, plan: { file: input.redisServerBinary, args: redisServerArgs(rest, podIP), env: fullEnv } };
  if (program === 'redis-cli') return { ok: true, plan: { file: input.redisCliBinary, args: redisCliArgs(rest, podIP), env: fullEnv } };
  // Anything else in a Redis image (sh -c scripts, ...) runs from the host PATH, where the Pod's
  // wrapper directory comes first so redis-server and redis-cli get the same address mapping.
  return {
    ok: true,
    plan: { file: argv[0]!.startsWith('/') && !['sh', 'bash'].includes(program) ? argv[0]! : program, args: rest, env: fullEnv },
  };
}

/** An exec probe's argv: same env and path mapping as the container; redis-cli gets `-h <podIP>`. */
export function planExecProbe(
  command: string[],
  podIP: string,
  mappings: readonly PathMapping[],
  redisCliBinary: string,
): { file: string; args: string[] } {
  const argv = command.map((c) => rewritePaths(c, mappings));
  if (argv.length === 0) throw new ContainerConfigError('exec probe: command is empty');
  const program = path.basename(argv[0]!);
  if (program === 'redis-cli') return { file: redisCliBinary, args: redisCliArgs(argv.slice(1), podIP) };
  return { file: argv[0]!, args: argv.slice(1) };
}

/** Shell wrappers put first in a Pod's PATH so scripts get the same mapping as direct runs. */
export function wrapperScripts(podIP: string, redisServerBinary: string, redisCliBinary: string): Record<string, string> {
  return {
    'redis-server': [
      '#!/bin/sh',
      '# Binds to the Pod IP unless an explicit --bind is given, never daemonizes.',
      'for a in "$@"; do if [ "$a" = "--bind" ]; then exec ' + redisServerBinary + ' "$@" --daemonize no; fi; done',
      `exec ${redisServerBinary} "$@" --bind ${podIP} --daemonize no`,
      '',
    ].join('\n'),
    'redis-cli': [
      '#!/bin/sh',
      '# redis-cli defaults to 127.0.0.1, which in a Pod is the Pod itself.',
      'for a in "$@"; do case "$a" in -h|-u|redis://*|rediss://*) exec ' + redisCliBinary + ' "$@";; esac; done',
      `exec ${redisCliBinary} -h ${podIP} "$@"`,
      '',
    ].join('\n'),
  };
}
