// Certificates for the TLS tests, made with the openssl command line into a temp dir: a CA and
// node certificates it signs (or not), valid or expired. EC keys: quick to make.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { clientTls } from '../../shared/tls/secret.js';

export interface Authority {
  dir: string;
  name: string;
  crtFile: string;
  keyFile: string;
  pem: string;
}

/** A node's certificate and key, and the CA that signed it: what a cert-manager Secret holds. */
export interface Issued {
  'tls.crt': string;
  'tls.key': string;
  'ca.crt': string;
  /** Upper-case hex, as X509Certificate.serialNumber gives it. */
  serial: string;
}

const openssl = (dir: string, args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

const made: string[] = [];

/** A temp dir for certificates, removed by removeCertDirs or when the process exits. */
export function certDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'redis-operator-certs-'));
  if (made.push(dir) === 1) process.once('exit', removeCertDirs);
  return dir;
}

/** Removes every dir certDir made (the test runner ends its workers with a signal: no exit event). */
export function removeCertDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function makeAuthority(dir: string, name = 'test-ca'): Authority {
  const crtFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl(dir, ['req', '-x509', ...ecKey, '-keyout', keyFile, '-out', crtFile, '-subj', `/CN=${name}`, '-days', '30']);
  return { dir, name, crtFile, keyFile, pem: readFileSync(crtFile, 'utf8') };
}

let issued = 0;

/**
 * A certificate signed by `ca` for `names` (DNS names or IP addresses), valid for `days` from now
 * (negative: already expired).
 */
export function issue(ca: Authority, opts: { names?: string[]; days?: number; serial?: number } = {}): Issued {
  const base = join(ca.dir, `node-${++issued}`);
  const serial = opts.serial ?? 0x1000 + issued;
  const names = opts.names ?? ['localhost', '127.0.0.1'];
  const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  openssl(ca.dir, ['req', ...ecKey, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${names[0]}`]);
  writeFileSync(`${base}.ext`, `subjectAltName=${san}\n`);
  openssl(
    ca.dir,
    ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.crtFile, '-CAkey', ca.keyFile, '-out', `${base}.crt`].concat([
      '-days',
      String(opts.days ?? 30),
      '-set_serial',
      String(serial),
      '-extfile',
      `${base}.ext`,
    ]),
  );
  return {
    'tls.crt': readFileSync(`${base}.crt`, 'utf8'),
    'tls.key': readFileSync(`${base}.key`, 'utf8'),
    'ca.crt': ca.pem,
    serial: serial.toString(16).toUpperCase(),
  };
}

/** The serial of the certificate a new TLS connection to the node is given (upper-case hex). */
export function servedSerial(node: { ip: string; port: number }, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: node.ip, port: node.port, ...clientTls(caPem) }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toUpperCase());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}
