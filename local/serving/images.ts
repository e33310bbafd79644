// The images the platform's Knative Serving knows how to run, as a registry the kubelet pulls from:
// the operator's functions (an image named after its function folder runs that function's bundle,
// the same file `npm run build` puts in the image) and Knative's queue-proxy.
import { join, resolve } from 'node:path';
import type { ImageEntrypoint, ImageStore } from '../kubelet/command.js';
import { FunctionBundles } from './bundles.js';
import { entryFor, functionNameFromImage } from './config.js';

/** The queue-proxy image revision Pods carry, as Knative's config-deployment names it. */
export const QUEUE_PROXY_IMAGE = 'gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.16.0';

const HERE = import.meta.dirname;
const REPO_ROOT = resolve(HERE, '..', '..');
const POD_NETWORK = join(REPO_ROOT, 'local', 'kubelet', 'pod-network.mjs');

export interface FunctionImagesOptions {
  /** Where function folders are looked up (`<root>/<fn>/index.ts`); default `<repo>/functions`. */
  functionRoots?: string[];
  /**
   * `bundle` (default): the entry bundled as its image runs it; `tsx`: the TypeScript sources
   * compiled at start-up (env LOCAL_FUNCTION_RUNTIME=tsx).
   */
  runtime?: 'bundle' | 'tsx';
  /** Where bundles are cached across runs; default node_modules/.cache/redis-operator-functions. */
  bundleCacheDir?: string;
  log?: (msg: string) => void;
}

export class FunctionImages implements ImageStore {
  readonly roots: string[];
  private readonly bundles?: FunctionBundles;

  constructor(opts: FunctionImagesOptions = {}) {
    this.roots = opts.functionRoots ?? [join(REPO_ROOT, 'functions')];
    const runtime = opts.runtime ?? (process.env.LOCAL_FUNCTION_RUNTIME === 'tsx' ? 'tsx' : 'bundle');
    if (runtime === 'bundle')
      this.bundles = new FunctionBundles(
        opts.bundleCacheDir ?? join(REPO_ROOT, 'node_modules', '.cache', 'redis-operator-functions'),
        opts.log ?? (() => undefined),
      );
  }

  /** The function folder's entry an image runs, if the image is one of ours. */
  entryOf(image: string): string | undefined {
    return entryFor(functionNameFromImage(image), this.roots);
  }

  /** Builds the bundle ahead, as a node pulls an image before the first Pod needs it. */
  prefetch(image: string): void {
    const entry = this.entryOf(image);
    if (entry && this.bundles) void this.bundles.bundleFor(entry).catch(() => undefined);
  }

  async pull(image: string): Promise<ImageEntrypoint | undefined> {
    if (image === QUEUE_PROXY_IMAGE) return { file: process.execPath, args: [join(HERE, 'queue-proxy.mjs')] };
    const entry = this.entryOf(image);
    if (!entry) return undefined;
    if (!this.bundles) return { file: process.execPath, args: ['--import', import.meta.resolve('tsx'), '--import', POD_NETWORK, entry] };
    return { file: process.execPath, args: ['--import', POD_NETWORK, await this.bundles.bundleFor(entry)] };
  }
}
