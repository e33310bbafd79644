#!/usr/bin/env node
// Set-up shared by `npm start` and `npm test`: the npm dependencies and the system binaries the
// project runs for real (redis-server, redis-cli; redis_exporter when it can be had).
// Plain Node with no dependencies, because it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.log('[setup] installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// System packages: the binaries the tests and the embedded platform run.
const wanted = [
  { bin: 'redis-server', pkg: 'redis-server', required: true },
  { bin: 'redis-cli', pkg: 'redis-tools', required: true },
  { bin: 'prometheus-redis-exporter', pkg: 'prometheus-redis-exporter', required: false },
  { bin: 'promtool', pkg: 'prometheus', required: true },
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
