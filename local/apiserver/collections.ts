// Lists and watches of a resource collection: label and field selection, paging with continue
// tokens, Table output, and watch streams (the backlog since a resourceVersion or the current
// state, bookmarks, timeouts, 410 Gone once the history no longer reaches back).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiCore } from './core.js';
import { badRequest, gone } from './errors.js';
import { groupVersion, type ResourceType } from './resources.js';
import { matchesFields, matchesRequirements, parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { Obj, StoredEvent } from './store.js';
import { toTable, type IncludeObject } from './table.js';

const BOOKMARK_INTERVAL_MS = 30_000;

/** One list or watch request on a collection. */
export interface CollectionRequest {
  t: ResourceType;
  namespace: string | undefined;
  q: URLSearchParams;
  asTable: boolean;
  include: IncludeObject;
}

/** The objects a request's namespace, labelSelector (absent: all) and fieldSelector select. */
export function collectionMatcher(t: ResourceType, namespace: string | undefined, q: URLSearchParams): (o: Obj) => boolean {
  const labels = parseLabelSelector(q.get('labelSelector'));
  const fields = parseFieldSelector(q.get('fieldSelector'));
  return (o) =>
    (!t.namespaced || namespace === undefined || o.metadata.namespace === namespace) &&
    matchesRequirements(o.metadata.labels, labels) &&
    matchesFields(o, fields);
}

export function selected(core: ApiCore, t: ResourceType, namespace: string | undefined, q: URLSearchParams): Obj[] {
  return core.list(t, namespace, collectionMatcher(t, namespace, q));
}

/** The List (or Table) a GET of the collection answers, one page of it when `limit` is set. */
export function listBody(core: ApiCore, r: CollectionRequest): unknown {
  const { t, q } = r;
  let items = selected(core, t, r.namespace, q);
  const rv = String(core.store.rv);
  const metadata: Record<string, unknown> = { resourceVersion: rv };
  const limit = Number(q.get('limit') ?? 0);
  const cont = q.get('continue');
  if (cont) {
    let after: string;
    try {
      after = String(JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')).after);
    } catch {
      throw badRequest('continue: Invalid value: the continue token is not valid');
    }
    items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > after);
  }
  if (limit > 0 && items.length > limit) {
    const last = items[limit - 1]!;
    metadata.continue = Buffer.from(JSON.stringify({ after: `${last.metadata.namespace ?? ''}/${last.metadata.name}` })).toString(
      'base64url',
    );
    metadata.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
  }
  if (r.asTable) return { ...toTable(t, items, { include: r.include, resourceVersion: rv }), metadata };
  return { kind: t.listKind, apiVersion: groupVersion(t.group, t.version), metadata, items };
}

/** Where a watch starts: after `from`, or (undefined) with the current state. */
function watchStart(q: URLSearchParams): { from: number | undefined; initialEvents: boolean } {
  const rvParam = q.get('resourceVersion');
  // Streaming lists: the current state first, then a bookmark marking its end.
  const initialEvents = q.get('sendInitialEvents') === 'true';
  let from: number | undefined;
  if (rvParam && rvParam !== '0' && !initialEvents) {
    from = Number(rvParam);
    if (!Number.isInteger(from) || from < 0)
      throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: must be an integer`);
  }
  return { from, initialEvents };
}

/** A watch stream; `open` holds it until it ends so that shutdown can end it. */
export function serveWatch(
  core: ApiCore,
  req: IncomingMessage,
  res: ServerResponse,
  r: CollectionRequest,
  open: Set<ServerResponse>,
): void {
  const { t, q } = r;
  const match = collectionMatcher(t, r.namespace, q);
  const { from, initialEvents } = watchStart(q);
  const backlog = from === undefined ? [] : core.store.since(from);

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.socket?.setNoDelay(true);
  // Clients wait for the headers before they consider the watch open.
  res.flushHeaders();
  let first = true;
  const send = (type: string, object: unknown) => {
    res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const sendObject = (type: string, o: Obj) => {
    const shown = core.present(t, structuredClone(o));
    if (r.asTable)
      send(type, toTable(t, [shown], { include: r.include, resourceVersion: shown.metadata.resourceVersion, withColumns: first }));
    else send(type, shown);
    first = false;
  };
  const bookmark = (annotations?: Record<string, string>) =>
    send('BOOKMARK', {
      kind: t.kind,
      apiVersion: groupVersion(t.group, t.version),
      metadata: { resourceVersion: String(core.store.rv), ...(annotations ? { annotations } : {}) },
    });
  if (!backlog) {
    send('ERROR', gone(`too old resource version: ${from} (${core.store.compactedRv + 1})`).toStatus());
    res.end();
    return;
  }
  const onEvent = (e: StoredEvent) => {
    if (e.storageKey !== t.storageKey) return;
    const now = match(core.view(t, e.object));
    if (e.type === 'MODIFIED') {
      const before = e.previous ? match(core.view(t, e.previous)) : now;
      if (now && before) sendObject('MODIFIED', e.object);
      else if (now) sendObject('ADDED', e.object);
      else if (before) sendObject('DELETED', e.object);
    } else if (now) sendObject(e.type, e.object);
  };
  if (from === undefined) for (const o of core.list(t, r.namespace, match)) sendObject('ADDED', o);
  if (initialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
  for (const e of backlog) onEvent(e);
  keepOpen(req, res, q, core.store.subscribe(onEvent), () => bookmark(), open);
}

/** Timeout, periodic bookmarks and clean-up of an open watch. */
function keepOpen(
  req: IncomingMessage,
  res: ServerResponse,
  q: URLSearchParams,
  unsubscribe: () => void,
  bookmark: () => void,
  open: Set<ServerResponse>,
): void {
  open.add(res);
  const timers: NodeJS.Timeout[] = [];
  const timeout = Number(q.get('timeoutSeconds') ?? 0);
  if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
  if (q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1') {
    timers.push(setInterval(bookmark, BOOKMARK_INTERVAL_MS));
  }
  const cleanup = () => {
    unsubscribe();
    for (const timer of timers) clearTimeout(timer);
    open.delete(res);
  };
  res.on('close', cleanup);
  res.on('finish', cleanup);
  req.on('close', () => {
    if (!res.writableEnded) res.end();
  });
}
