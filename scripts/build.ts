// `npm run build [-- [--out <dir>] [--minify] [name ...]]`: bundles each functions/<name>/index.ts into one
// ESM file, dist/<name>/index.mjs, with a minimal Dockerfile beside it. Without names, every
// function that has an index.ts. Exits non-zero when any bundle fails.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message } from 'esbuild';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// CommonJS dependencies bundled into ESM still call require() and read __dirname; ESM has neither.
const BANNER = [
  "import { createRequire as __bundleCreateRequire } from 'node:module';",
  "import { fileURLToPath as __bundleFileURLToPath } from 'node:url';",
  "import { dirname as __bundleDirname } from 'node:path';",
  'const require = __bundleCreateRequire(import.meta.url);',
  'const __filename = __bundleFileURLToPath(import.meta.url);',
  'const __dirname = __bundleDirname(__filename);',
].join('\n');

// Optional native speed-ups that their packages load inside try/catch; absent here and in the image.
const OPTIONAL_EXTERNALS = ['bufferutil', 'utf-8-validate'];

export const DOCKERFILE = [
  'FROM node:20-slim',
  'WORKDIR /app',
  'ENV NODE_ENV=production',
  'COPY index.mjs ./',
  'USER node',
  'CMD ["node", "index.mjs"]',
  '',
].join('\n');

export interface BuiltFunction {
  name: string;
  file: string;
  bytes: number;
  warnings: number;
}

/** Functions that have an entry point (functions/<name>/index.ts). */
export function functionNames(root = REPO_ROOT): string[] {
  const dir = path.join(root, 'functions');
  return readdirSync(dir)
    .filter((name) => existsSync(path.join(dir, name, 'index.ts')))
    .sort();
}

function formatMessages(messages: Message[]): string {
  return messages.map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text)).join('\n');
}

export interface BuildOptions {
  /** Smaller bundles, faster cold starts; stack traces then name minified symbols. */
  minify?: boolean;
}

export interface Bundle {
  warnings: number;
  /** Every source file the bundle holds, absolute. */
  inputs: string[];
}

/**
 * Bundles one entry file into `outfile` as the function images run it: one ESM file with every
 * dependency inside. Warnings are printed to stderr under `label`.
 */
export async function bundleEntry(
  entry: string,
  outfile: string,
  root = REPO_ROOT,
  opts: BuildOptions = {},
  label = entry,
): Promise<Bundle> {
  const result = await build({
    metafile: true,
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: BANNER },
    external: OPTIONAL_EXTERNALS,
    legalComments: 'none',
    logLevel: 'silent',
    minify: opts.minify ?? false,
    // Minified or not, error stacks keep the names of classes and functions.
    keepNames: true,
  });
  if (result.warnings.length) process.stderr.write(`${label}: ${result.warnings.length} warning(s)\n${formatMessages(result.warnings)}\n`);
  return { warnings: result.warnings.length, inputs: Object.keys(result.metafile.inputs).map((f) => path.resolve(root, f)) };
}

export async function buildFunction(name: string, outDir: string, root = REPO_ROOT, opts: BuildOptions = {}): Promise<BuiltFunction> {
  const entry = path.join(root, 'functions', name, 'index.ts');
  if (!existsSync(entry)) throw new Error(`functions/${name}/index.ts does not exist`);
  const target = path.join(outDir, name);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  const file = path.join(target, 'index.mjs');
  const { warnings } = await bundleEntry(entry, file, root, opts, name);
  writeFileSync(path.join(target, 'Dockerfile'), DOCKERFILE);
  return { name, file, bytes: statSync(file).size, warnings };
}

function usage(): never {
  process.stderr.write('usage: tsx scripts/build.ts [--out <dir>] [--minify] [function ...]\n');
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let outDir = path.join(REPO_ROOT, 'dist');
  let minify = false;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--out') {
      const value = argv[++i];
      if (!value) usage();
      outDir = path.resolve(value);
    } else if (arg === '--minify') minify = true;
    else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('-')) {
      process.stderr.write(`unknown option ${arg}\n`);
      usage();
    } else names.push(arg);
  }
  const available = functionNames();
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length) {
    process.stderr.write(`no function ${unknown.join(', ')}; functions with an index.ts: ${available.join(', ')}\n`);
    return 1;
  }
  const selected = names.length ? names : available;
  let failed = 0;
  for (const name of selected) {
    const started = Date.now();
    try {
      const built = await buildFunction(name, outDir, REPO_ROOT, { minify });
      const kb = (built.bytes / 1024).toFixed(1);
      const relative = path.relative(process.cwd(), built.file);
      const shown = relative.startsWith('..') ? built.file : relative;
      process.stdout.write(`${name.padEnd(14)} ${shown.padEnd(32)} ${kb.padStart(8)} KiB  ${Date.now() - started} ms\n`);
    } catch (err) {
      failed++;
      const errors = (err as { errors?: Message[] }).errors;
      process.stderr.write(`${name}: build failed\n${errors?.length ? formatMessages(errors) : (err as Error).message}\n`);
    }
  }
  if (failed) process.stderr.write(`${failed} of ${selected.length} function(s) failed to build\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
