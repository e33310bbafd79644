// The one client of the local API server inside the embedded platform (plain HTTP, no auth): the
// scheduler, kubelet, eventing, serving and the platform all call it. Discovery-based kind ->
// resource mapping, get/list/create/patch/apply/delete, subresources, and watches that resume from
// the last resourceVersion.

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    [k: string]: unknown;
  };
  spec?: any;
  status?: any;
  [k: string]: unknown;
}

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandle {
  /** Resolves once the initial list has been read (the watch is then open). */
  ready: Promise<void>;
  stop(): void;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  /** Called with the objects that existed when the watch started; the watch opens once it is done. */
  onList?: (items: KubeObject[]) => void | Promise<void>;
  onEvent: (type: WatchEventType, obj: KubeObject) => void;
  onError?: (err: unknown) => void;
}

/** Kubernetes' own guess of a resource name from a kind (used when discovery has no answer). */
export function guessPlural(kind: string): string {
  const k = kind.toLowerCase();
  if (k.endsWith('s')) return `${k}es`;
  if (k.endsWith('y')) return `${k.slice(0, -1)}ies`;
  return `${k}s`;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

function groupVersionPath(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

export interface PatchOptions {
  type?: 'merge' | 'strategic';
  subresource?: 'status' | 'scale';
}

const PATCH_CONTENT_TYPES = { merge: 'application/merge-patch+json', strategic: 'application/strategic-merge-patch+json' };

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export class KubeRest {
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();

  /** Without `token`, requests carry no credentials: the platform's own components act as administrators. */
  constructor(
    readonly baseUrl: string,
    private readonly token?: () => Promise<string>,
  ) {}

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    if (this.token) headers.authorization = `Bearer ${await this.token()}`;
    return headers;
  }

  private async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: await this.headers(body === undefined ? {} : { 'content-type': contentType }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {
        // not a Status body: keep the raw text
      }
      throw new KubeError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return text ? JSON.parse(text) : undefined;
  }

  private async resources(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    let p = this.discovery.get(apiVersion);
    if (!p) {
      p = this.request('GET', groupVersionPath(apiVersion)).then(
        (list: { resources?: { name: string; kind: string; namespaced: boolean }[] }) => {
          const m = new Map<string, ResourceInfo>();
          for (const r of list?.resources ?? []) {
            if (!r.name.includes('/')) m.set(r.kind, { plural: r.name, namespaced: r.namespaced });
          }
          return m;
        },
        () => new Map<string, ResourceInfo>(),
      );
      this.discovery.set(apiVersion, p);
    }
    const m = await p;
    // A CRD created after the first lookup: ask again next time.
    if (m.size === 0) this.discovery.delete(apiVersion);
    return m;
  }

  async resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const known = (await this.resources(apiVersion)).get(kind);
    if (known) return known;
    this.discovery.delete(apiVersion);
    return (await this.resources(apiVersion)).get(kind) ?? { plural: guessPlural(kind), namespaced: kind !== 'Namespace' };
  }

  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const r = await this.resourceFor(apiVersion, kind);
    const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${groupVersionPath(apiVersion)}${ns}/${r.plural}`;
  }

  async objectPath(apiVersion: string, kind: string, name: string, namespace?: string): Promise<string> {
    return `${await this.collectionPath(apiVersion, kind, namespace)}/${encodeURIComponent(name)}`;
  }

  async get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
    try {
      return await this.request('GET', await this.objectPath(apiVersion, kind, name, namespace));
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return undefined;
      throw err;
    }
  }

  async list(
    apiVersion: string,
    kind: string,
    namespace?: string,
    labelSelector?: string,
  ): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const list = await this.request('GET', (await this.collectionPath(apiVersion, kind, namespace)) + q);
    const items = ((list?.items ?? []) as KubeObject[]).map((o) => ({ apiVersion, kind, ...o }));
    return { items, resourceVersion: String(list?.metadata?.resourceVersion ?? '') };
  }

  async create(obj: KubeObject): Promise<KubeObject> {
    const { apiVersion, kind } = requireTypeMeta(obj);
    return this.request('POST', await this.collectionPath(apiVersion, kind, obj.metadata?.namespace), obj);
  }

  /** PATCH of the object, or of its subresource: a JSON merge patch unless `type` says strategic. */
  async patch(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    opts: PatchOptions = {},
  ): Promise<KubeObject> {
    const path = (await this.objectPath(apiVersion, kind, name, namespace)) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request('PATCH', path, patch, PATCH_CONTENT_TYPES[opts.type ?? 'merge']);
  }

  /** GET of an object's subresource (a custom resource's `scale`: its autoscaling/v1 Scale). */
  async getSubresource(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    subresource: string,
  ): Promise<KubeObject> {
    return this.request('GET', `${await this.objectPath(apiVersion, kind, name, namespace)}/${subresource}`);
  }

  /** POST to an object's subresource (a Pod's binding or eviction). */
  async createSubresource(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    subresource: string,
    body: unknown,
  ): Promise<KubeObject> {
    return this.request('POST', `${await this.objectPath(apiVersion, kind, name, namespace)}/${subresource}`, body);
  }

  /** Writes `status` through the status subresource, or the object itself where there is none. */
  async patchStatus(obj: KubeObject, status: unknown): Promise<void> {
    const { apiVersion, kind } = requireTypeMeta(obj);
    const path = await this.objectPath(apiVersion, kind, obj.metadata!.name!, obj.metadata?.namespace);
    try {
      await this.request('PATCH', `${path}/status`, { status }, 'application/merge-patch+json');
    } catch (err) {
      if (!(err instanceof KubeError) || (err.code !== 404 && err.code !== 405)) throw err;
      await this.request('PATCH', path, { status }, 'application/merge-patch+json');
    }
  }

  /** PUT: the object replaces the stored one (a stale resourceVersion is a 409). */
  async replace(obj: KubeObject): Promise<KubeObject> {
    const { apiVersion, kind } = requireTypeMeta(obj);
    return this.request('PUT', await this.objectPath(apiVersion, kind, obj.metadata?.name ?? '', obj.metadata?.namespace), obj);
  }

  /** Client-side apply: create, or replace the spec-ish content of an existing object. */
  async apply(obj: KubeObject): Promise<KubeObject> {
    const { apiVersion, kind } = requireTypeMeta(obj);
    const name = obj.metadata?.name;
    if (!name) throw new Error(`${kind}: metadata.name is required`);
    const current = await this.get(apiVersion, kind, name, obj.metadata?.namespace);
    if (!current) return this.create(obj);
    const next = {
      ...current,
      ...obj,
      metadata: { ...current.metadata, ...obj.metadata, resourceVersion: current.metadata?.resourceVersion },
    };
    if (current.status !== undefined) next.status = current.status;
    return this.request('PUT', await this.objectPath(apiVersion, kind, name, obj.metadata?.namespace), next);
  }

  /** DELETE; an object already gone is not an error. */
  async delete(apiVersion: string, kind: string, name: string, namespace?: string, options?: DeleteOptions): Promise<void> {
    // Without a name the path is the collection's, and DELETE there removes every object in it.
    if (!name) throw new Error(`delete ${kind}: a name is required`);
    try {
      await this.request('DELETE', await this.objectPath(apiVersion, kind, name, namespace), options);
    } catch (err) {
      if (!(err instanceof KubeError) || err.code !== 404) throw err;
    }
  }

  /**
   * List, then watch from the list's resourceVersion; a broken stream resumes from the last
   * resourceVersion seen, and a 410 Gone starts over with a fresh list (no events for that list,
   * as informers' consumers here only care about changes they saw happen).
   */
  watch(apiVersion: string, kind: string, opts: WatchOptions): WatchHandle {
    const abort = new AbortController();
    let stopped = false;
    let markReady!: () => void;
    let failReady!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    ready.catch(() => undefined);
    let first = true;
    const loop = async (): Promise<void> => {
      let rv = '';
      while (!stopped) {
        try {
          if (!rv) {
            const list = await this.list(apiVersion, kind, opts.namespace, opts.labelSelector);
            rv = list.resourceVersion;
            await opts.onList?.(list.items);
            if (first) {
              first = false;
              markReady();
            }
          }
          const q = new URLSearchParams({ watch: 'true', resourceVersion: rv, allowWatchBookmarks: 'true' });
          if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
          const url = `${this.baseUrl}${await this.collectionPath(apiVersion, kind, opts.namespace)}?${q}`;
          const res = await fetch(url, { signal: abort.signal, headers: await this.headers() });
          if (res.status === 410) {
            rv = '';
            continue;
          }
          if (!res.ok || !res.body) throw new KubeError(res.status, `watch ${kind}: ${res.status}`);
          const decoder = new TextDecoder();
          let buf = '';
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            buf += decoder.decode(chunk, { stream: true });
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (!line) continue;
              const ev = JSON.parse(line) as { type: string; object: KubeObject & { code?: number } };
              if (ev.type === 'ERROR') {
                if (ev.object?.code === 410) rv = '';
                throw new KubeError(ev.object?.code ?? 500, `watch ${kind}: ${JSON.stringify(ev.object)}`);
              }
              const newRv = ev.object?.metadata?.resourceVersion;
              if (newRv) rv = newRv;
              if (ev.type === 'BOOKMARK') continue;
              if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') {
                opts.onEvent(ev.type, { apiVersion, kind, ...ev.object });
              }
            }
          }
        } catch (err) {
          if (stopped) return;
          if (first) {
            // The API server is not reachable yet, or the kind is not served yet: keep trying.
          } else if (!(err instanceof KubeError && err.code === 410)) {
            opts.onError?.(err);
          }
          await new Promise((r) => setTimeout(r, first ? 100 : 250));
        }
      }
    };
    void loop().catch(failReady);
    return {
      ready,
      stop() {
        stopped = true;
        abort.abort();
      },
    };
  }
}

function requireTypeMeta(obj: KubeObject): { apiVersion: string; kind: string } {
  if (!obj.apiVersion) throw new Error(`object ${obj.metadata?.name ?? '?'}: apiVersion is required`);
  if (!obj.kind) throw new Error(`object ${obj.metadata?.name ?? '?'}: kind is required`);
  return { apiVersion: obj.apiVersion, kind: obj.kind };
}
