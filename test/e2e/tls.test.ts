// A cluster that serves TLS only: it forms with its certificate, real TLS clients (redis-cli and
// ioredis) read every key, a plaintext client gets nothing; a new certificate in the Secret is
// loaded live under a fixed-rate TLS writer; and a Secret that is wrong in any way is refused with
// a condition and an Event while the nodes keep serving the certificate they have; a new CA comes in
// through an overlap (ca.crt holding both), all of it under a fixed-rate writer with no restart.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../local/apiserver/client.js';
import { clientTls } from '../../shared/tls/secret.js';
import { certDir, issue, makeAuthority, servedSerial, type Authority, type Issued } from '../helpers/certificates.js';
import {
  applyCluster,
  clusterClient,
  condition,
  eventually,
  redisServers,
  statusNodes,
  useE2E,
  writeKeys,
  countKeys,
} from '../helpers/e2e.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger, type TimedLedger } from '../helpers/timed-ledger.js';

const NS = 'tls';
const NAME = 'secure';
const SECRET = 'secure-tls';
const e2e = useE2E({ namespaces: [NS] });
const dir = certDir();
const ca: Authority = makeAuthority(dir, 'redis-ca');
const NAMES = ['localhost', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
let ready: KubeObject;

async function putSecret(data: Partial<Record<string, string>>): Promise<void> {
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]));
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: SECRET, namespace: NS }, type: 'kubernetes.io/tls', data: encoded };
  const out = await e2e.kubectl(['replace', '--force', '-f', '-'], JSON.stringify(secret));
  if (out.code !== 0) {
    const created = await e2e.kubectl(['create', '-f', '-'], JSON.stringify(secret));
    expect(created.stderr).toBe('');
  }
}
const secretOf = (i: Issued) => ({ 'tls.crt': i['tls.crt'], 'tls.key': i['tls.key'], 'ca.crt': i['ca.crt'] });

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

const nodesOf = (obj: KubeObject) => statusNodes(obj).map((n) => ({ ip: n.ip, port: n.port }));
const pidsOf = async (obj: KubeObject) => (await redisServers(nodesOf(obj).map((n) => n.port))).map((p) => p.pid).sort();

describe('TLS', () => {
  it('a TLS cluster forms; redis-cli --tls and ioredis read every key; plaintext gets no answer', async () => {
    const first = issue(ca, { names: NAMES, serial: 0x1001 });
    await putSecret(secretOf(first));
    const started = Date.now();
    ({ ready } = await applyCluster(e2e, {
      namespace: NS,
      name: NAME,
      spec: { tls: { secretName: SECRET }, exporter: { enabled: false } },
    }));
    console.log(`apply -> Ready (3x1, TLS): ${Date.now() - started} ms`);
    const client = clusterClient(ready, undefined, clientTls(ca.pem));
    try {
      await writeKeys(client, 'tls', 200);
      expect(await countKeys(client, 'tls', 200)).toBe(200);
    } finally {
      client.disconnect();
    }
    const caFile = join(dir, 'ca-only.crt');
    writeFileSync(caFile, ca.pem);
    const [node] = nodesOf(ready);
    const gets = Array.from({ length: 200 }, (_, i) => `GET tls:${i}`).join('\n');
    const cli = await run('redis-cli', ['--tls', '--cacert', caFile, '-c', '-h', node!.ip, '-p', String(node!.port)], `${gets}\n`);
    // redis-cli -c says where it followed each MOVED: `-> Redirected to slot [...] located at ...`.
    const values = cli.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('-> Redirected'));
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => `v:${i}`));
    const plain = await run('redis-cli', ['-h', node!.ip, '-p', String(node!.port), 'PING']);
    expect(plain.stdout).not.toMatch(/PONG/);
    expect(await servedSerial(node!, ca.pem)).toBe('1001');
    // Discovery's view comes from a node it reached over TLS (`live`), not from the status.
    const discovery = await fetch(
      `${e2e.platform.urls.serving}/redis-operator/discovery/cluster/nodes?clusterName=${NAME}&namespace=${NS}`,
    );
    expect(discovery.status).toBe(200);
    expect(discovery.headers.get('x-discovery-source')).toBe('live');
  }, 240_000);

  it('a new certificate in the Secret is loaded live: no failed write, no restart, new connections get it', async () => {
    const pids = await pidsOf(ready);
    expect(pids).toHaveLength(6);
    const ledger = await startTimedLedger(nodesOf(ready), 100, 'rotate', 1000, { tlsCa: ca.pem });
    await new Promise((r) => setTimeout(r, 2000));
    const started = Date.now();
    await putSecret(secretOf(issue(ca, { names: NAMES, serial: 0x2002 })));
    await eventually(
      'every node to serve the new certificate',
      async () => (await Promise.all(nodesOf(ready).map((n) => servedSerial(n, ca.pem)))).every((s) => s === '2002'),
      90_000,
      500,
    );
    console.log(`Secret replaced -> every node serves the new certificate: ${Date.now() - started} ms`);
    await expectEveryWriteKept(ledger, 'rotate', ca.pem);
    expect(await pidsOf(ready)).toEqual(pids);
    const events = await clusterEvents('CertificateReloaded');
    expect(events.length).toBeGreaterThan(0);
  }, 180_000);

  it('a wrong Secret gives TLSSecretInvalid naming it and what is wrong; the nodes keep serving, nothing restarts', async () => {
    const pids = await pidsOf(ready);
    const good = issue(ca, { names: NAMES, serial: 0x3003 });
    const other = issue(ca, { names: NAMES });
    const foreign = issue(makeAuthority(dir, 'other-ca'), { names: NAMES });
    const bad: [string, Partial<Record<string, string>> | undefined, RegExp][] = [
      ['key missing', { 'tls.crt': good['tls.crt'], 'ca.crt': good['ca.crt'] }, /has no tls\.key/],
      ['key of another certificate', { ...secretOf(good), 'tls.key': other['tls.key'] }, /tls\.key is not the private key/],
      ['expired', secretOf(issue(ca, { names: NAMES, days: -1 })), /expired at/],
      ['CA did not sign it', { ...secretOf(foreign), 'ca.crt': ca.pem }, /not signed by any CA in ca\.crt/],
      ['Secret missing', undefined, /not found/],
    ];
    for (const [what, data, message] of bad) {
      if (data) await putSecret(data);
      else expect((await e2e.kubectl(['delete', 'secret', SECRET, '-n', NS])).code).toBe(0);
      const started = Date.now();
      const readyCondition = await eventually(
        `Ready False with TLSSecretInvalid (${what})`,
        async () => {
          const c = condition(await e2e.getCluster(NS, NAME), 'Ready');
          return c?.reason === 'TLSSecretInvalid' && message.test(c.message ?? '') ? c : undefined;
        },
        60_000,
        500,
      );
      console.log(`${what}: condition after ${Date.now() - started} ms: ${readyCondition.message}`);
      expect(readyCondition.message).toContain(`TLS Secret ${SECRET}`);
      const warned = await clusterEvents('TLSSecretInvalid');
      expect(warned.some((e) => e.type === 'Warning' && message.test(e.message ?? ''))).toBe(true);
      const [node] = nodesOf(ready);
      expect(await servedSerial(node!, ca.pem)).toBe('2002');
    }
    expect(await pidsOf(ready)).toEqual(pids);
    await putSecret(secretOf(good));
    await eventually('Ready again', async () => condition(await e2e.getCluster(NS, NAME), 'Ready')?.status === 'True', 90_000, 500);
    expect(await pidsOf(ready)).toEqual(pids);
  }, 300_000);

  it('a CA rotated with an overlap (both CAs, then a certificate of the new one, then the new CA alone): no failed command, no restart', async () => {
    const pids = await pidsOf(ready);
    const next = makeAuthority(dir, 'redis-ca-2');
    const both = `${ca.pem}${next.pem}`;
    // A client that took the bundle when the overlap began.
    const ledger = await startTimedLedger(nodesOf(ready), 100, 'ca-rotate', 1000, { tlsCa: both });
    await new Promise((r) => setTimeout(r, 2000));
    const steps: [string, Issued, string][] = [
      ['both CAs trusted', issue(ca, { names: NAMES, serial: 0x4004 }), both],
      ['a certificate of the new CA', issue(next, { names: NAMES, serial: 0x5005 }), both],
      ['the new CA alone', issue(next, { names: NAMES, serial: 0x6006 }), next.pem],
    ];
    for (const [what, cert, caPem] of steps) {
      const started = Date.now();
      await putSecret({ ...secretOf(cert), 'ca.crt': caPem });
      await eventually(
        `every node to serve ${cert.serial} (${what})`,
        async () => (await Promise.all(nodesOf(ready).map((n) => servedSerial(n, both)))).every((s) => s === cert.serial),
        90_000,
        500,
      );
      console.log(`CA rotation, ${what}: every node serves it after ${Date.now() - started} ms`);
    }
    await expectEveryWriteKept(ledger, 'ca-rotate', next.pem);
    expect(await pidsOf(ready)).toEqual(pids);
    expect(condition(await e2e.getCluster(NS, NAME), 'Ready')?.status).toBe('True');
  }, 300_000);
});

/** Stops the ledger 2 s on: no command failed or read wrong, and every acknowledged write reads back. */
async function expectEveryWriteKept(ledger: TimedLedger, prefix: string, caPem: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 2000));
  const result = await ledger.stop();
  const acked = result.writes.map((w) => w.n);
  console.log(
    `${prefix} under load: ${acked.length} writes acknowledged, failures ${JSON.stringify(result.failures)}, ${result.reads} reads`,
  );
  expect(result.failures).toEqual({});
  expect(result.wrongReads).toBe(0);
  expect(acked.length).toBeGreaterThan(500);
  const client = clusterClient(ready, undefined, clientTls(caPem));
  try {
    expect(await missingWrites(client, acked, prefix)).toEqual([]);
  } finally {
    client.disconnect();
  }
}

/** The Events with `reason` recorded on the cluster. */
async function clusterEvents(reason: string): Promise<{ type?: string; message?: string }[]> {
  const { items } = await e2e.platform.kube.list('v1', 'Event', NS);
  return items.filter(
    (e) => (e as { reason?: string }).reason === reason && (e as { involvedObject?: { name?: string } }).involvedObject?.name === NAME,
  ) as { type?: string; message?: string }[];
}
