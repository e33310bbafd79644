// What the controllers do to objects they finish: delete one that may already be gone, and drop a
// finalizer (removing the object when it was the last one and nothing else holds it).
import type { ApiCore, DeleteOptions } from '../core.js';
import { ApiError } from '../errors.js';
import type { ResourceType } from '../resources.js';
import type { Obj } from '../store.js';

export function deleteQuietly(core: ApiCore, t: ResourceType, o: Obj, options: DeleteOptions = {}): void {
  try {
    core.delete(t, o.metadata.namespace, o.metadata.name, options);
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 404)) throw err;
  }
}

export function dropFinalizer(core: ApiCore, t: ResourceType, key: string, current: Obj, finalizer: string): void {
  const next = structuredClone(current);
  next.metadata.finalizers = (current.metadata.finalizers ?? []).filter((f: string) => f !== finalizer);
  if (next.metadata.finalizers.length === 0) {
    delete next.metadata.finalizers;
    if (!core.podGracePending(t, next)) {
      core.removeNow(t, current);
      return;
    }
  }
  core.store.put(key, next, 'MODIFIED', current);
}
