// Objects in memory under one global resourceVersion counter, a bounded history of changes for
// watches to resume from, and optional persistence to a JSON file (debounced) so a restart keeps
// the objects and the counter.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Obj = Record<string, any> & { metadata: Record<string, any> };

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  type: EventType;
  storageKey: string;
  object: Obj;
  /** The object before a MODIFIED change, to tell selector watches that it left their view. */
  previous?: Obj;
  rv: number;
}

const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

export class Store {
  private readonly data = new Map<string, Map<string, Obj>>();
  private history: StoredEvent[] = [];
  private readonly listeners = new Set<(e: StoredEvent) => void>();
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  rv = 0;
  /** Changes up to this version are no longer in the history: a watch from before it gets 410. */
  compactedRv = 0;

  constructor(
    private readonly maxHistory = 10_000,
    private readonly stateFile?: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    if (stateFile) {
      mkdirSync(dirname(stateFile), { recursive: true });
      this.load(stateFile);
    }
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    let state: { resourceVersion: number; objects: Record<string, Obj[]> };
    try {
      state = JSON.parse(text) as typeof state;
    } catch (err) {
      throw new Error(`stateFile ${file}: not a state this server wrote: ${(err as Error).message}`, { cause: err });
    }
    if (typeof state?.resourceVersion !== 'number' || typeof state.objects !== 'object') {
      throw new Error(`stateFile ${file}: not a state this server wrote (no resourceVersion/objects)`);
    }
    this.rv = state.resourceVersion;
    this.compactedRv = state.resourceVersion;
    for (const [storageKey, objects] of Object.entries(state.objects)) {
      const bucket = this.bucket(storageKey);
      for (const o of objects) bucket.set(keyOf(o.metadata.namespace, o.metadata.name), o);
    }
  }

  private bucket(storageKey: string): Map<string, Obj> {
    let b = this.data.get(storageKey);
    if (!b) this.data.set(storageKey, (b = new Map()));
    return b;
  }

  get(storageKey: string, namespace: string | undefined, name: string): Obj | undefined {
    const o = this.data.get(storageKey)?.get(keyOf(namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  /** Objects of one resource, in one namespace or all, sorted by namespace and name. */
  list(storageKey: string, namespace?: string, filter?: (o: Obj) => boolean): Obj[] {
    const out: Obj[] = [];
    for (const o of this.data.get(storageKey)?.values() ?? []) {
      if ((namespace === undefined || o.metadata.namespace === namespace) && (!filter || filter(o))) out.push(structuredClone(o));
    }
    return out.sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name).localeCompare(keyOf(b.metadata.namespace, b.metadata.name)));
  }

  /** Every stored object with the storage key it lives under (no copies: callers must not mutate). */
  *entries(): Generator<[string, Obj]> {
    for (const [storageKey, bucket] of this.data) for (const o of bucket.values()) yield [storageKey, o];
  }

  /** Stores a new or changed object under the next resourceVersion. */
  put(storageKey: string, obj: Obj, type: 'ADDED' | 'MODIFIED', previous?: Obj): Obj {
    this.rv++;
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(this.rv);
    this.bucket(storageKey).set(keyOf(stored.metadata.namespace, stored.metadata.name), stored);
    this.record({ type, storageKey, object: stored, previous, rv: this.rv });
    return structuredClone(stored);
  }

  remove(storageKey: string, obj: Obj): Obj {
    const bucket = this.bucket(storageKey);
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    const current = bucket.get(key);
    if (!current) return obj;
    bucket.delete(key);
    this.rv++;
    const gone = structuredClone(current);
    gone.metadata.resourceVersion = String(this.rv);
    this.record({ type: 'DELETED', storageKey, object: gone, rv: this.rv });
    return structuredClone(gone);
  }

  private record(e: StoredEvent): void {
    this.history.push(e);
    if (this.history.length > this.maxHistory) {
      const dropped = this.history.splice(0, this.history.length - this.maxHistory);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const l of this.listeners) l(e);
    this.scheduleSave();
  }

  /** Changes after `rv`, or undefined when some of them are no longer kept. */
  since(rv: number): StoredEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  subscribe(listener: (e: StoredEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private snapshot(): string {
    const objects: Record<string, Obj[]> = {};
    for (const [storageKey, bucket] of this.data) objects[storageKey] = [...bucket.values()];
    return JSON.stringify({ resourceVersion: this.rv, objects });
  }

  private scheduleSave(): void {
    if (!this.stateFile || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      const file = this.stateFile!;
      const text = this.snapshot();
      this.saving = this.saving
        .then(async () => {
          await writeFile(`${file}.tmp`, text);
          await rename(`${file}.tmp`, file);
        })
        // A failed write is retried with the next change; it must not stop later ones.
        .catch((err: unknown) => this.log(`state file ${file} not written: ${(err as Error).message}`));
    }, 100);
  }

  /** Writes pending state now (on close). */
  async flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    await this.saving.catch(() => undefined);
    if (this.stateFile) {
      writeFileSync(`${this.stateFile}.tmp`, this.snapshot());
      renameSync(`${this.stateFile}.tmp`, this.stateFile);
    }
  }
}
