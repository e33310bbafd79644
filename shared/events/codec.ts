// Building our events and parsing incoming ones against the catalog.
import { createHash, randomUUID } from 'node:crypto';
import { CloudEvent, type CloudEventV1 } from 'cloudevents';
import type { z } from 'zod';
import {
  catalog,
  EVENT_PREFIX,
  EVENT_TYPES,
  isEventType,
  type ApiServerRef,
  type ApiServerResource,
  type ClusterRef,
  type EventData,
  type EventDataInput,
  type EventExtensions,
  type EventType,
} from './catalog.js';

/** An event that does not fit the catalog; `field` names what is wrong (e.g. `data.cluster.name`). */
export class EventDataError extends Error {
  constructor(
    readonly type: string,
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${type}: ${field} ${problem}`);
    this.name = 'EventDataError';
  }
}

export class UnknownEventTypeError extends Error {
  constructor(readonly type: string) {
    super(`unknown event type "${type}"; the catalog has: ${EVENT_TYPES.join(', ')}`);
    this.name = 'UnknownEventTypeError';
  }
}

/** An incoming event whose data and extensions passed the catalog's schemas. */
export interface TypedEvent<T extends EventType> {
  type: T;
  id: string;
  source: string;
  subject?: string;
  time?: string;
  data: EventData<T>;
  extensions: EventExtensions<T>;
  /** The CloudEvent as received. */
  cloudEvent: CloudEventV1<unknown>;
}

/** Discriminated by `type`: narrowing on it types `data`. */
export type ParsedEvent = { [T in EventType]: TypedEvent<T> }[EventType];

/** What caused an event we derive: the incoming CloudEvent, or its source and id. */
export interface Cause {
  id: string;
  source: string;
}

export interface BuildOptions {
  source: string;
  /** The event this one is derived from; it makes the id deterministic. */
  cause?: Cause;
  /** An explicit id; overrides the derivation. */
  id?: string;
  subject?: string;
  time?: string | Date;
}

function firstIssue(type: string, prefix: string, error: z.ZodError): EventDataError {
  const issue = error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].join('.');
  const problem = /received undefined$/.test(issue.message) ? 'is required' : issue.message;
  return new EventDataError(type, field, problem);
}

function validateData<T extends EventType>(type: T, data: unknown): EventData<T> {
  const result = catalog[type].data.safeParse(data);
  if (!result.success) throw firstIssue(type, 'data', result.error);
  return result.data as EventData<T>;
}

// Sorted keys, so equal data gives equal bytes whatever the key order.
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function digest(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/**
 * The id rule (docs/events.md, "Deterministic ids"):
 * - reshard events: sha256(type, cluster, generation, cause source+id), or the canonical JSON of
 *   the data when there is no cause;
 * - alert events: sha256(type, cluster, fingerprint (else the sorted labels), startsAt, endsAt
 *   for resolved, and receivedAt when set), so a redelivered event keeps its id while each new
 *   notification of a still-firing alert gets its own;
 * - consumed types (only tests and the embedded platform build them): a fresh UUID, as Knative does.
 */
export function deriveEventId<T extends EventType>(type: T, data: EventData<T>, cause?: Cause): string {
  if (type.startsWith(`${EVENT_PREFIX}reshard.`)) {
    const d = data as EventData<'redis.redis.reshard.requested.v1'>;
    const why = cause ? `cause ${cause.source} ${cause.id}` : `data ${canonicalJson(data)}`;
    return digest([type, d.cluster.namespace, d.cluster.name, String(d.generation), why]);
  }
  if (type.startsWith(`${EVENT_PREFIX}alert.`)) {
    const d = data as EventData<'redis.redis.alert.firing.v1'> | EventData<'redis.redis.alert.resolved.v1'>;
    const alert = d.fingerprint ?? canonicalJson(d.labels);
    const parts = [type, d.cluster.namespace, d.cluster.name, alert, d.startsAt];
    if (d.status === 'resolved') parts.push(d.endsAt ?? '');
    if (d.receivedAt) parts.push(d.receivedAt);
    return digest(parts);
  }
  return randomUUID();
}

/** Builds a catalog event: validates `data`, sets the extensions and the id by the rule above. */
export function buildEvent<T extends EventType>(type: T, data: EventDataInput<T>, options: BuildOptions): CloudEvent<EventData<T>> {
  if (!isEventType(type)) throw new UnknownEventTypeError(type);
  if (!options.source) throw new EventDataError(type, 'source', 'is required');
  const valid = validateData(type, data);
  const extensions: Record<string, string> = {};
  const derive = catalog[type].extensionsOf as (d: EventData<T>) => Record<string, string | undefined>;
  for (const [key, value] of Object.entries(derive(valid))) {
    if (value !== undefined) extensions[key] = value;
  }
  const time = options.time instanceof Date ? options.time.toISOString() : options.time;
  return new CloudEvent<EventData<T>>({
    specversion: '1.0',
    type,
    source: options.source,
    id: options.id ?? deriveEventId(type, valid, options.cause),
    datacontenttype: 'application/json',
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    ...(time === undefined ? {} : { time }),
    data: valid,
    ...extensions,
  });
}

function dataOf(event: CloudEventV1<unknown>): unknown {
  const { data } = event;
  // A binary-mode body whose content type cloudevents did not recognise arrives as text.
  if (typeof data === 'string' && /json/i.test(event.datacontenttype ?? 'application/json')) {
    try {
      return JSON.parse(data);
    } catch {
      throw new EventDataError(event.type, 'data', 'is not valid JSON');
    }
  }
  if (Buffer.isBuffer(data)) return JSON.parse(data.toString('utf8'));
  return data;
}

/** Checks an incoming CloudEvent against the catalog; throws EventDataError naming the field. */
export function parseEvent(event: CloudEventV1<unknown>): ParsedEvent {
  const type = event.type;
  if (!isEventType(type)) throw new UnknownEventTypeError(type);
  const data = validateData(type, dataOf(event));
  const entry = catalog[type];
  const attrs = event as unknown as Record<string, unknown>;
  const present = Object.fromEntries(Object.keys(entry.extensions.shape).flatMap((k) => (attrs[k] === undefined ? [] : [[k, attrs[k]]])));
  const ext = entry.extensions.safeParse(present);
  if (!ext.success) throw firstIssue(type, 'extension', ext.error);
  // Our own events: the extensions a Trigger filtered on must say what the data says.
  if ('rcname' in ext.data) {
    const cluster = (data as { cluster: ClusterRef }).cluster;
    const e = ext.data as { rcnamespace: string; rcname: string };
    if (e.rcnamespace !== cluster.namespace || e.rcname !== cluster.name) {
      throw new EventDataError(
        type,
        'extension.rcnamespace/rcname',
        `(${e.rcnamespace}/${e.rcname}) does not match data.cluster (${cluster.namespace}/${cluster.name})`,
      );
    }
  }
  return {
    type,
    id: event.id,
    source: event.source,
    ...(event.subject === undefined ? {} : { subject: event.subject }),
    ...(event.time === undefined ? {} : { time: event.time }),
    data,
    extensions: ext.data,
    cloudEvent: event,
  } as ParsedEvent;
}

const RC_API_GROUP = 'redis.redis/';
const RC_KIND = 'RedisCluster';

/** Which RedisCluster an event is about, where the event itself says so. */
export function clusterOf(event: ParsedEvent): ClusterRef | undefined {
  switch (event.type) {
    case 'dev.knative.apiserver.ref.add':
    case 'dev.knative.apiserver.ref.update':
    case 'dev.knative.apiserver.ref.delete': {
      const d: ApiServerRef = event.data;
      // A Pod reference carries no labels or owners: the reconciler reads the Pod to find its cluster.
      if (d.kind === RC_KIND && d.apiVersion.startsWith(RC_API_GROUP) && d.namespace) {
        return { namespace: d.namespace, name: d.name };
      }
      return undefined;
    }
    case 'dev.knative.apiserver.resource.add':
    case 'dev.knative.apiserver.resource.update':
    case 'dev.knative.apiserver.resource.delete': {
      const d: ApiServerResource = event.data;
      const namespace = d.metadata.namespace;
      if (!namespace) return undefined;
      if (d.kind === RC_KIND && d.apiVersion.startsWith(RC_API_GROUP)) return { namespace, name: d.metadata.name };
      const owner = d.metadata.ownerReferences?.find((o) => o.kind === RC_KIND && o.apiVersion.startsWith(RC_API_GROUP));
      return owner ? { namespace, name: owner.name } : undefined;
    }
    case 'dev.knative.sources.ping':
      return undefined;
    default:
      return event.data.cluster;
  }
}

/**
 * The cluster an Alertmanager alert is about: labels `redis_cluster` and `namespace`. Returns
 * undefined when `redis_cluster` is missing; `defaultNamespace` stands in for a missing namespace.
 */
export function clusterFromAlertLabels(labels: Record<string, string>, defaultNamespace?: string): ClusterRef | undefined {
  const name = labels['redis_cluster'];
  const namespace = labels['namespace'] ?? defaultNamespace;
  return name && namespace ? { namespace, name } : undefined;
}
