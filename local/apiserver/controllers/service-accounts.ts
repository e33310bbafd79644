// The ServiceAccount controller: every active namespace has a `default` ServiceAccount, the one
// Pods run as when they name none.
import type { ApiCore } from '../core.js';

export function ensureDefaultServiceAccounts(core: ApiCore): void {
  const namespaces = core.type('', 'v1', 'namespaces');
  const accounts = core.type('', 'v1', 'serviceaccounts');
  for (const ns of core.store.list(namespaces.storageKey)) {
    const namespace = String(ns.metadata.name);
    if (ns.metadata.deletionTimestamp || core.store.get(accounts.storageKey, namespace, 'default')) continue;
    try {
      core.create(accounts, namespace, { metadata: { name: 'default' } });
    } catch {
      // The namespace began terminating meanwhile: nothing to do there.
    }
  }
}
