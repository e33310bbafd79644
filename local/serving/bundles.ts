// Function images run one bundled file (`npm run build`), not TypeScript compiled at start-up: the
// platform does the same, so a cold start here costs what it costs in a cluster. A bundle is built
// when its Service is first seen and kept in a cache shared by every platform run, rebuilt only
// when one of the files it holds changed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleEntry } from '../../scripts/build.js';

export class FunctionBundles {
  private readonly built = new Map<string, Promise<string>>();

  constructor(
    private readonly cacheDir: string,
    private readonly log: (m: string) => void,
  ) {}

  /** The bundle of `entry` (`<root>/<fn>/index.ts`): from the cache when still fresh, else built. */
  bundleFor(entry: string): Promise<string> {
    let file = this.built.get(entry);
    if (!file) {
      file = this.fresh(entry);
      // A failed build is retried on the next start: the source may have been fixed meanwhile.
      file.catch(() => this.built.delete(entry));
      this.built.set(entry, file);
    }
    return file;
  }

  private async fresh(entry: string): Promise<string> {
    const name = basename(dirname(entry));
    const dir = join(this.cacheDir, `${name}-${createHash('sha256').update(entry).digest('hex').slice(0, 12)}`);
    const outfile = join(dir, 'index.mjs');
    const inputsFile = join(dir, 'inputs.json');
    if (upToDate(outfile, inputsFile)) return outfile;
    mkdirSync(dir, { recursive: true });
    const t0 = Date.now();
    // Written aside and renamed: another platform run may read or build the same bundle meanwhile.
    const tmp = join(dir, `index.${process.pid}.${t0}.mjs`);
    const { inputs } = await bundleEntry(entry, tmp, undefined, {}, name);
    // Stamped with the build's start: a source saved during the build makes it stale.
    utimesSync(tmp, new Date(t0), new Date(t0));
    writeFileSync(`${inputsFile}.${process.pid}`, JSON.stringify(inputs));
    renameSync(`${inputsFile}.${process.pid}`, inputsFile);
    renameSync(tmp, outfile);
    this.log(`serving: bundled ${name} in ${Date.now() - t0} ms`);
    return outfile;
  }
}

function upToDate(outfile: string, inputsFile: string): boolean {
  if (!existsSync(outfile) || !existsSync(inputsFile)) return false;
  try {
    const builtAt = statSync(outfile).mtimeMs;
    const inputs = JSON.parse(readFileSync(inputsFile, 'utf8')) as string[];
    return inputs.every((f) => statSync(f).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}
