// The day-2 operations on a cluster that serves TLS only: a scale-out 3->4 and a scale-in 4->3
// under a fixed-rate TLS writer (slots move with MIGRATE over TLS between the nodes), and a master
// killed with SIGKILL that the cluster and the operator heal. After each, every key reads back over
// TLS, `redis-cli --tls --cluster check` is clean, and each node's exporter scrapes it over TLS.
// The certificate names what the chart's cert-manager Certificate asks for this cluster: DNS names
// only, none of the Pods' addresses.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../local/apiserver/client.js';
import { helmTemplate } from '../../scripts/helm.js';
import { clientTls } from '../../shared/tls/secret.js';
import { certDir, issue, makeAuthority } from '../helpers/certificates.js';
import {
  applyCluster,
  clusterClient,
  countKeys,
  eventually,
  redisServers,
  statusNodes,
  useE2E,
  waitForReady,
  writeKeys,
} from '../helpers/e2e.js';
import { missingWrites } from '../helpers/ledger.js';
import { startTimedLedger } from '../helpers/timed-ledger.js';

const NS = 'tls-ops';
const NAME = 'secure-ops';
const SECRET = 'secure-ops-tls';
const dir = certDir();
const ca = makeAuthority(dir, 'ops-ca');
const caFile = join(dir, 'ca-only.crt');
writeFileSync(caFile, ca.pem);
let ready: KubeObject;

/** The DNS names of the Certificate the chart renders for this cluster, into the Secret it names. */
function chartCertificateNames(): string[] {
  const rendered = helmTemplate({ setJson: { 'certManager.enabled': true, 'certManager.clusters': [{ namespace: NS, name: NAME }] } });
  const certificate = parseAllDocuments(rendered)
    .map((d) => d.toJS() as { kind?: string; spec?: { secretName?: string; dnsNames?: string[]; ipAddresses?: string[] } } | null)
    .find((o) => o?.kind === 'Certificate' && o.spec?.secretName === SECRET);
  expect(certificate?.spec?.ipAddresses).toBeUndefined();
  return certificate!.spec!.dnsNames!;
}

const e2e = useE2E(
  { namespaces: [NS] },
  async (e) => {
    const cert = issue(ca, { names: chartCertificateNames() });
    const data = { 'tls.crt': cert['tls.crt'], 'tls.key': cert['tls.key'], 'ca.crt': cert['ca.crt'] };
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: SECRET, namespace: NS },
      type: 'kubernetes.io/tls',
      stringData: data,
    };
    const made = await e.kubectl(['apply', '-f', '-'], JSON.stringify(secret));
    expect(made.code, made.stderr).toBe(0);
    ({ ready } = await applyCluster(e, {
      namespace: NS,
      name: NAME,
      spec: { masters: 3, replicas: 1, tls: { secretName: SECRET } },
      ports: 8,
    }));
    const client = clusterClient(ready, undefined, clientTls(ca.pem));
    try {
      await writeKeys(client, 'before', 1000);
    } finally {
      client.disconnect();
    }
  },
  200_000,
);

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const masterCount = (obj: KubeObject) => statusNodes(obj).filter((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0).length;

/** Patches the master count and waits for that many masters owning slots, every node listed. */
async function scaleTo(masters: number): Promise<KubeObject> {
  const patched = await e2e.kubectl([
    'patch',
    'rediscluster',
    NAME,
    '-n',
    NS,
    '--type',
    'merge',
    '-p',
    JSON.stringify({ spec: { masters } }),
  ]);
  expect(patched.code, patched.stderr).toBe(0);
  return eventually(
    `${masters} masters owning slots`,
    async () => {
      const obj = await waitForReady(e2e, NS, NAME, 150_000, masters * 2);
      return masterCount(obj) === masters ? obj : undefined;
    },
    180_000,
  );
}

/** Runs `operation` under a 50/s TLS ledger; every acknowledged write must read back, none may fail. */
async function underLedger(prefix: string, operation: () => Promise<KubeObject>): Promise<KubeObject> {
  const ledger = await startTimedLedger(statusNodes(ready), 50, prefix, 5000, { tlsCa: ca.pem });
  await new Promise((r) => setTimeout(r, 1000));
  const after = await operation();
  const result = await ledger.stop();
  expect(result.failures).toEqual({});
  expect(result.wrongReads).toBe(0);
  const client = clusterClient(after, undefined, clientTls(ca.pem));
  try {
    const missing = await missingWrites(
      client,
      result.writes.map((w) => w.n),
      prefix,
    );
    expect(missing).toEqual([]);
  } finally {
    client.disconnect();
  }
  console.log(`${prefix}: ${result.writes.length} TLS writes acknowledged, 0 failed, 0 missing`);
  return after;
}

/** Every key written before, read over TLS; the real cluster checker clean; each exporter up over TLS. */
async function expectWhole(obj: KubeObject): Promise<void> {
  const client = clusterClient(obj, undefined, clientTls(ca.pem));
  try {
    expect(await countKeys(client, 'before', 1000)).toBe(1000);
  } finally {
    client.disconnect();
  }
  const [node] = statusNodes(obj);
  const check = await run('redis-cli', ['--tls', '--cacert', caFile, '--cluster', 'check', `${node!.ip}:${node!.port}`]);
  expect(check.stdout).toContain('[OK] All 16384 slots covered.');
  expect(check.stdout).not.toMatch(/\[WARNING\]|\[ERR\]/);
  for (const n of statusNodes(obj)) {
    const metrics = await eventually(
      `the exporter of ${n.pod} to reach it over TLS`,
      async () => {
        const text = await (await fetch(`http://${n.ip}:${n.port + 5000}/metrics`)).text().catch(() => '');
        return /^redis_up 1$/m.test(text) ? text : undefined;
      },
      30_000,
    );
    expect(metrics).toMatch(/^redis_up 1$/m);
  }
}

describe('TLS cluster operations', () => {
  it('scales 3->4 under a TLS writer: slots move over TLS, nothing lost, nothing failed', async () => {
    const started = Date.now();
    const grown = await underLedger('out', () => scaleTo(4));
    console.log(`TLS scale-out 3->4: ${Date.now() - started} ms`);
    await expectWhole(grown);
  }, 300_000);

  it('heals a master killed with SIGKILL: Ready again with every node, every key kept', async () => {
    const obj = await waitForReady(e2e, NS, NAME, 60_000, 8);
    const master = statusNodes(obj).find((n) => n.role === 'master' && (n.slots?.length ?? 0) > 0)!;
    const [proc] = (await redisServers([master.port])).filter((p) => p.ip === master.ip);
    expect(proc, `the redis-server of ${master.pod}`).toBeDefined();
    const killedAt = Date.now();
    process.kill(proc!.pid, 'SIGKILL');
    const healed = await eventually(
      'the killed node back, the cluster Ready with four masters',
      async () => {
        const back = (await redisServers([master.port])).filter((p) => p.ip === master.ip && p.pid !== proc!.pid);
        if (back.length === 0) return undefined;
        const now = await waitForReady(e2e, NS, NAME, 5_000, 8).catch(() => undefined);
        return now && masterCount(now) === 4 ? now : undefined;
      },
      180_000,
      1000,
    );
    console.log(`TLS master ${master.pod} killed -> Ready with 8 nodes: ${Date.now() - killedAt} ms`);
    await expectWhole(healed);
  }, 240_000);

  it('scales 4->3 under a TLS writer: the drained master hands its slots over TLS, nothing lost', async () => {
    const started = Date.now();
    const shrunk = await underLedger('in', () => scaleTo(3));
    console.log(`TLS scale-in 4->3: ${Date.now() - started} ms`);
    expect(statusNodes(shrunk)).toHaveLength(6);
    await expectWhole(shrunk);
  }, 300_000);
});
