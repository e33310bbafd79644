// Regenerates every derived file (see scripts/gen/steps.ts). With --check it writes nothing and
// exits 1 when a file differs from what its generator produces.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { steps } from './gen/steps.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

let stale = 0;
for (const step of steps) {
  const path = resolve(root, step.output);
  const wanted = await step.render();
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === wanted) {
    console.log(`up to date  ${step.output}  (${step.name})`);
    continue;
  }
  if (check) {
    stale++;
    console.error(`stale       ${step.output}  (${step.name}): run npm run gen`);
    continue;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, wanted);
  console.log(`written     ${step.output}  (${step.name})`);
}
if (stale > 0) process.exit(1);
