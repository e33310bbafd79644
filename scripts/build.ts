// `npm run build [-- [--out <dir>] [--minify] [--registry <r>] [--tag <t>] [name ...]]`: bundles each
// functions/<name>/index.ts into one ESM file, dist/<name>/index.mjs, with a minimal Dockerfile
// beside it: one image context per function. It prints the image each context is for, as the chart
// names it (<image.registry>/<name>:<image.tag>, the chart's values unless --registry/--tag), and the
// docker command that builds it. Without names, every function that has an index.ts. Exits
// non-zero when any bundle fails.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message } from 'esbuild';
import { parse } from 'yaml';

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

/** The chart's image values: `image.registry` and `image.tag` (empty in values.yaml: the chart's appVersion). */
export interface ImageSettings {
  registry: string;
  tag: string;
}

export const CHART_DIR = path.join(REPO_ROOT, 'charts', 'redis-operator');

/** What the chart's default values render: values.yaml's image.registry, image.tag or else Chart.yaml's appVersion. */
export function chartImageSettings(chart = CHART_DIR): ImageSettings {
  const values = parse(readFileSync(path.join(chart, 'values.yaml'), 'utf8')) as { image: { registry: string; tag: string } };
  const { appVersion } = parse(readFileSync(path.join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string | number };
  return { registry: values.image.registry, tag: values.image.tag || String(appVersion) };
}

// Docker's reference grammar, as far as these two parts go: a registry host (optional port) and
// lower-case path components; a tag of at most 128 word characters, dots and dashes.
const REGISTRY = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]+)?(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Why these settings cannot name an image, or undefined when they can. */
export function invalidImageSettings({ registry, tag }: ImageSettings): string | undefined {
  if (!REGISTRY.test(registry)) return `registry ${JSON.stringify(registry)} is not an image repository prefix such as ghcr.io/org`;
  if (!TAG.test(tag)) return `tag ${JSON.stringify(tag)} is not an image tag (letters, digits, _ . -, at most 128)`;
  return undefined;
}

/** The image a function runs as in the chart, `<image.registry>/<name>:<image.tag>` (templates/_functions.tpl). */
export function imageReference(name: string, images: ImageSettings): string {
  return `${images.registry}/${name}:${images.tag}`;
}

// Paths are printed as commands to paste: quote what a shell would split.
const shellWord = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`);

/** The command that builds a function's image from its context directory. */
export function dockerBuildCommand(image: string, context: string): string {
  return `docker build -t ${shellWord(image)} ${shellWord(context)}`;
}

function usage(): never {
  process.stderr.write('usage: tsx scripts/build.ts [--out <dir>] [--minify] [--registry <registry>] [--tag <tag>] [function ...]\n');
  process.exit(2);
}

/** A path as the user would type it: relative to the working directory when inside it. */
function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

interface Args {
  outDir: string;
  minify: boolean;
  images: ImageSettings;
  names: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { outDir: path.join(REPO_ROOT, 'dist'), minify: false, images: chartImageSettings(), names: [] };
  const value = (i: number): string => argv[i] ?? usage();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--out') args.outDir = path.resolve(value(++i));
    else if (arg === '--registry') args.images.registry = value(++i);
    else if (arg === '--tag') args.images.tag = value(++i);
    else if (arg === '--minify') args.minify = true;
    else if (arg === '--help' || arg === '-h') usage();
    else if (arg.startsWith('-')) {
      process.stderr.write(`unknown option ${arg}\n`);
      usage();
    } else args.names.push(arg);
  }
  return args;
}

async function main(argv: string[]): Promise<number> {
  const { outDir, minify, images, names } = parseArgs(argv);
  const invalid = invalidImageSettings(images);
  if (invalid) {
    process.stderr.write(`${invalid}\n`);
    return 2;
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
      const image = imageReference(name, images);
      process.stdout.write(
        `${name.padEnd(14)} ${shown(built.file).padEnd(32)} ${kb.padStart(8)} KiB  ${Date.now() - started} ms\n` +
          `  image        ${image}\n` +
          `  build        ${dockerBuildCommand(image, shown(path.dirname(built.file)))}\n`,
      );
    } catch (err) {
      failed++;
      const errors = (err as { errors?: Message[] }).errors;
      process.stderr.write(`${name}: build failed\n${errors?.length ? formatMessages(errors) : (err as Error).message}\n`);
    }
  }
  if (failed) {
    process.stderr.write(`${failed} of ${selected.length} function(s) failed to build\n`);
    return 1;
  }
  // The chart renders exactly these images with these two values; push them, then install.
  const set = `--set image.registry=${shellWord(images.registry)} --set image.tag=${shellWord(images.tag)}`;
  process.stdout.write(
    `\npush each image (docker push <image>), then install the chart with the same values:\n` +
      `  helm upgrade redis-operator ${shellWord(shown(CHART_DIR))} --install --create-namespace --namespace redis-operator ${set}\n`,
  );
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
