// The planned operations a chaos run drives: each is a cluster to start from and the change that
// sets it going, as a person would make it: a `kubectl patch` of the spec, or a Secret replaced.
import { connect } from 'node:net';
import { authReply } from '../test/helpers/auth.js';
import { certDir, issue, makeAuthority, servedSerial, type Authority } from '../test/helpers/certificates.js';
import { clusterEventReasons, routeValue, specMasters } from '../test/helpers/autoscaling.js';
import { eventually, NODE_ADDRESSES, statusNodes } from '../test/helpers/e2e.js';
import { startLedger } from '../test/helpers/ledger.js';
import type { ChaosTarget } from './faults.js';

export interface Operation {
  name: string;
  /** The spec the cluster starts from (merged into the example's). */
  initial: {
    masters: number;
    replicas: number;
    persistence?: { enabled: boolean; size: string };
    passwordSecret?: { name: string };
    tls?: { secretName: string };
    autoscaling?: { enabled: boolean; minMasters: number; maxMasters: number; cooldownSeconds: number };
  };
  /** The shape the cluster must reach when something other than a spec patch changes it. */
  target?: { masters: number };
  /**
   * The platform must run Prometheus and Alertmanager (with the chart's rules, in fast mode), with
   * these chart values besides fastLoop's.
   */
  monitoring?: Record<string, unknown>;
  /** The spec change that starts the operation; none for a fault on a steady cluster. */
  patch?: (seed: number) => Record<string, unknown>;
  /** What the cluster needs before it is applied (a Secret); sets the password clients log in with. */
  prepare?: (t: ChaosTarget) => Promise<void>;
  /** Starts an operation that is not a spec change; sets the password new connections must use. */
  begin?: (t: ChaosTarget, seed: number) => Promise<void>;
  /** What must hold besides the cluster's shape once the operation is done; none when it holds. */
  problems?: (t: ChaosTarget) => Promise<string[]>;
  /**
   * The cluster stops speaking the protocol the ledgers started in: each command is given up after
   * its retry window, as it would otherwise wait in the client's offline queue for good.
   */
  switchesProtocol?: boolean;
  /** Why the operation cannot run yet, when it cannot. */
  pending?: string;
}

const persistence = { enabled: true, size: '1Gi' };
const PASSWORD_SECRET = 'chaos-password';

/** Writes the cluster's password Secret, as `kubectl apply` would, and makes it the clients' password. */
async function putPassword(t: ChaosTarget, password: string): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: PASSWORD_SECRET, namespace: t.namespace },
    stringData: { password },
  };
  const applied = await t.e2e.kubectl(['apply', '-f', '-'], JSON.stringify(secret));
  if (applied.code !== 0) throw new Error(`kubectl apply of Secret ${t.namespace}/${PASSWORD_SECRET}: ${applied.stderr.trim()}`);
  if (t.password) retired.set(t.namespace, t.password);
  t.password = password;
}

const TLS_SECRET = 'chaos-tls';
/** Each run's CA and the serial its nodes must serve, by namespace. */
const authorities = new Map<string, { ca: Authority; serial: string }>();

/** Signs a node certificate with the run's CA and writes it as cert-manager does, into the TLS Secret. */
async function putCertificate(t: ChaosTarget, serial: number): Promise<void> {
  const ca = authorities.get(t.namespace)?.ca ?? makeAuthority(certDir(), 'chaos-ca');
  const cert = issue(ca, { names: ['localhost', ...NODE_ADDRESSES], serial });
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: TLS_SECRET, namespace: t.namespace },
    stringData: { 'tls.crt': cert['tls.crt'], 'tls.key': cert['tls.key'], 'ca.crt': cert['ca.crt'] },
  };
  const applied = await t.e2e.kubectl(['apply', '-f', '-'], JSON.stringify(secret));
  if (applied.code !== 0) throw new Error(`kubectl apply of Secret ${t.namespace}/${TLS_SECRET}: ${applied.stderr.trim()}`);
  authorities.set(t.namespace, { ca, serial: cert.serial });
  t.tls = { ca: ca.pem, caFile: ca.crtFile };
}

/** Nodes whose new connections are not yet given the newest certificate. */
async function oldCertificateServed(t: ChaosTarget): Promise<string[]> {
  const issued = authorities.get(t.namespace);
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  if (!issued || !obj) return [];
  const served = await Promise.all(
    statusNodes(obj).map(async (n) => [n.pod, await servedSerial(n, issued.ca.pem).catch((e: Error) => e.message)]),
  );
  return served.filter(([, serial]) => serial !== issued.serial).map(([pod, serial]) => `${pod} serves ${serial}, not ${issued.serial}`);
}

/** A plaintext PING to a node: `+PONG` when its port speaks plaintext, else what came back. */
function plainPing(node: { ip: string; port: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: node.ip, port: node.port });
    let reply = '';
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(2000, () => done(`no reply${reply ? `: ${reply.trim()}` : ''}`));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.trim());
    });
    socket.on('error', (err) => done(err.message));
    socket.on('close', () => done(reply.trim() || 'closed'));
  });
}

/** After TLS was turned on: nodes that do not serve the run's certificate, or still answer plaintext. */
async function notTlsOnly(t: ChaosTarget): Promise<string[]> {
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  if (!obj) return [];
  const plain = await Promise.all(statusNodes(obj).map(async (n) => [n.pod, await plainPing(n)] as const));
  return [...(await oldCertificateServed(t)), ...plain.filter(([, r]) => r === '+PONG').map(([pod]) => `${pod} still answers plaintext`)];
}

/** After TLS was turned off: nodes that do not answer a plaintext PING. */
async function notPlain(t: ChaosTarget): Promise<string[]> {
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  if (!obj) return [];
  const replies = await Promise.all(statusNodes(obj).map(async (n) => [n.pod, await plainPing(n)] as const));
  return replies.filter(([, r]) => r !== '+PONG').map(([pod, r]) => `${pod} answers a plaintext PING with ${r}`);
}

/** The password each run's cluster had before its rotation, by namespace. */
const retired = new Map<string, string>();

/** Nodes that still take the password the rotation replaced. */
async function oldPasswordTaken(t: ChaosTarget): Promise<string[]> {
  const old = retired.get(t.namespace);
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  if (!old || !obj) return [];
  const replies = await Promise.all(statusNodes(obj).map(async (n) => [n.pod, await authReply(n, old).catch((e: Error) => e.message)]));
  return replies.filter(([, reply]) => !/^-WRONGPASS/.test(reply!)).map(([pod, reply]) => `${pod} answers the old password: ${reply}`);
}

/** Writes/s of the extra load: about 500 commands/s per master of 3, above the fast rule's 300. */
const LOAD_RATE = 1500;
/** The runs (by namespace) whose cluster is still under the extra load. */
const loaded = new Set<string>();

/** Loads the cluster past the throughput rule until the alert has grown spec.masters to `masters`. */
async function loadUntilScaled(t: ChaosTarget, masters: number): Promise<void> {
  const obj = await t.e2e.getCluster(t.namespace, t.name);
  const load = await startLedger(statusNodes(obj!), LOAD_RATE, 'load');
  loaded.add(t.namespace);
  void eventually('the alert to grow spec.masters', async () => (await specMasters(t.e2e, t.namespace, t.name)) >= masters, 180_000, 500)
    .catch(() => undefined)
    .then(() => load.stop())
    .catch(() => undefined)
    .finally(() => loaded.delete(t.namespace));
}

/** What says the alert has not yet done its step: the extra load still on, or no Autoscaled Event. */
async function notAutoscaled(t: ChaosTarget): Promise<string[]> {
  const problems: string[] = [];
  if (loaded.has(t.namespace)) problems.push('extra load still on: no step up yet');
  if (!(await clusterEventReasons(t.e2e, t.namespace, t.name)).includes('Autoscaled')) problems.push('no Autoscaled Event for the cluster');
  return problems;
}

export const OPERATIONS: Operation[] = [
  { name: 'steady', initial: { masters: 3, replicas: 1 } },
  { name: 'steady-persistent', initial: { masters: 3, replicas: 1, persistence } },
  { name: 'scale-out', initial: { masters: 3, replicas: 1 }, patch: () => ({ masters: 4 }) },
  { name: 'scale-in', initial: { masters: 4, replicas: 1 }, patch: () => ({ masters: 3 }) },
  { name: 'replicas-up', initial: { masters: 3, replicas: 1 }, patch: () => ({ replicas: 2 }) },
  { name: 'replicas-down', initial: { masters: 3, replicas: 2 }, patch: () => ({ replicas: 1 }) },
  { name: 'rolling-update', initial: { masters: 3, replicas: 1 }, patch: (seed) => ({ image: `redis:7.2-chaos-${seed}` }) },
  {
    name: 'autoscaling',
    // A long cooldown keeps the step up in place once the extra load stops and the low alert fires.
    initial: { masters: 3, replicas: 1, autoscaling: { enabled: true, minMasters: 3, maxMasters: 4, cooldownSeconds: 600 } },
    target: { masters: 4 },
    monitoring: {},
    begin: (t) => loadUntilScaled(t, 4),
    problems: notAutoscaled,
  },
  {
    name: 'autoscaling-in',
    // The masters hold little and the ledgers' commands are few: the low-memory alert fires from
    // the start, while autoscaling is off. Turning it on is the operation; Alertmanager's repeat
    // brings the alert back within seconds and the scale function shrinks the cluster a step.
    initial: { masters: 4, replicas: 1, autoscaling: { enabled: false, minMasters: 3, maxMasters: 4, cooldownSeconds: 600 } },
    target: { masters: 3 },
    monitoring: { [routeValue('repeatInterval')]: '6s' },
    patch: () => ({ autoscaling: { enabled: true } }),
    problems: notAutoscaled,
  },
  {
    name: 'password-rotation',
    initial: { masters: 3, replicas: 1, passwordSecret: { name: PASSWORD_SECRET } },
    prepare: (t) => putPassword(t, 'chaos-old'),
    begin: (t, seed) => putPassword(t, `chaos-new-${seed}`),
    problems: oldPasswordTaken,
  },
  {
    name: 'certificate-rotation',
    initial: { masters: 3, replicas: 1, tls: { secretName: TLS_SECRET } },
    prepare: (t) => putCertificate(t, 0x2000),
    // Serials of four hex digits, so the served serial reads back the same.
    begin: (t, seed) => putCertificate(t, 0x3000 + (seed % 0x1000)),
    problems: oldCertificateServed,
  },
  // TLS turned on, then off, on a live cluster: the ledgers keep the protocol they started with,
  // as an application does until it is changed, so their commands fail once the last roll reaches
  // their node; what they had acknowledged must all be there, read in the new protocol.
  {
    name: 'tls-on',
    initial: { masters: 3, replicas: 1 },
    prepare: async (t) => {
      await putCertificate(t, 0x2000);
      t.tls = undefined;
    },
    begin: async (t) => {
      const { ca } = authorities.get(t.namespace)!;
      t.tls = { ca: ca.pem, caFile: ca.crtFile };
    },
    patch: () => ({ tls: { secretName: TLS_SECRET } }),
    switchesProtocol: true,
    problems: notTlsOnly,
  },
  {
    name: 'tls-off',
    initial: { masters: 3, replicas: 1, tls: { secretName: TLS_SECRET } },
    prepare: (t) => putCertificate(t, 0x2000),
    begin: async (t) => {
      t.tls = undefined;
    },
    patch: () => ({ tls: null }),
    switchesProtocol: true,
    problems: notPlain,
  },
];

export function operationNamed(name: string): Operation {
  const op = OPERATIONS.find((o) => o.name === name);
  if (!op) throw new Error(`--scenario: unknown operation "${name}"; one of ${OPERATIONS.map((o) => o.name).join(', ')}`);
  return op;
}

/** The spec once the operation is done: the initial one with the change applied. */
export function targetSpec(op: Operation, seed: number): { masters: number; replicas: number } {
  return { ...op.initial, ...op.target, ...(op.patch?.(seed) ?? {}) } as { masters: number; replicas: number };
}
