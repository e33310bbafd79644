// The events ApiServerSource and PingSource emit, in Knative's exact formats. Pure.
import { randomUUID } from 'node:crypto';
import { CloudEvent } from 'cloudevents';
import { CronExpressionParser } from 'cron-parser';
import { guessPlural, type KubeObject } from '../apiserver/client.js';

export type ApiServerSourceMode = 'Reference' | 'Resource';
export type ApiServerChange = 'add' | 'update' | 'delete';

/** Knative's self link for a referenced object: `/apis/<apiVersion>/namespaces/<ns>/<resource>/<name>`, also for core kinds. */
export function apiServerSubject(
  apiVersion: string,
  kind: string,
  namespace: string | undefined,
  name: string,
  plural = guessPlural(kind),
): string {
  let version = apiVersion;
  // Knative's own quirk for dotted versions without a group separator.
  if (version.includes('.') && !version.includes('/')) version = `${version}/versionUnknown`;
  const ns = namespace ? `/namespaces/${namespace}` : '';
  return `/apis/${version}${ns}/${plural}/${name}`;
}

export function apiServerSourceEvent(
  mode: ApiServerSourceMode,
  change: ApiServerChange,
  obj: KubeObject,
  apiServerUrl: string,
  plural?: string,
): CloudEvent<unknown> {
  const apiVersion = obj.apiVersion ?? '';
  const kind = obj.kind ?? '';
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace ?? '';
  const prefix = mode === 'Reference' ? 'dev.knative.apiserver.ref' : 'dev.knative.apiserver.resource';
  const data = mode === 'Reference' ? { apiVersion, kind, name, ...(namespace ? { namespace } : {}) } : obj;
  return new CloudEvent<unknown>(
    {
      specversion: '1.0',
      id: randomUUID(),
      type: `${prefix}.${change}`,
      source: apiServerUrl,
      subject: apiServerSubject(apiVersion, kind, namespace || undefined, name, plural),
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data,
      kind,
      apiversion: apiVersion,
      name,
      ...(namespace ? { namespace } : {}),
    },
    false,
  );
}

export interface PingSourceSpec {
  schedule?: string;
  timezone?: string;
  data?: string;
  dataBase64?: string;
  contentType?: string;
}

/** Throws a clear error naming the field when the schedule or timezone is invalid. */
export function validatePingSchedule(spec: PingSourceSpec): void {
  if (!spec.schedule) throw new Error('spec.schedule: is required');
  if (spec.timezone) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: spec.timezone });
    } catch {
      throw new Error(`spec.timezone: ${JSON.stringify(spec.timezone)} is not a known time zone`);
    }
  }
  try {
    CronExpressionParser.parse(spec.schedule, { tz: spec.timezone, strict: false });
  } catch (err) {
    throw new Error(`spec.schedule: ${JSON.stringify(spec.schedule)} is not a valid cron expression (${(err as Error).message})`, {
      cause: err,
    });
  }
}

/** The next firing time of a cron schedule strictly after `from`. */
export function nextPing(spec: PingSourceSpec, from: Date): Date {
  const expr = CronExpressionParser.parse(spec.schedule!, { tz: spec.timezone, currentDate: from, strict: false });
  return expr.next().toDate();
}

export function pingEvent(namespace: string, name: string, spec: PingSourceSpec): CloudEvent<unknown> {
  const attrs: Record<string, unknown> = {
    specversion: '1.0',
    id: randomUUID(),
    type: 'dev.knative.sources.ping',
    source: `/apis/v1/namespaces/${namespace}/pingsources/${name}`,
    time: new Date().toISOString(),
  };
  if (spec.dataBase64) {
    attrs.data_base64 = spec.dataBase64;
    attrs.datacontenttype = spec.contentType ?? 'application/octet-stream';
  } else if (spec.data !== undefined) {
    const type = spec.contentType ?? 'application/json';
    attrs.datacontenttype = type;
    let data: unknown = spec.data;
    if (/json/.test(type)) {
      try {
        data = JSON.parse(spec.data);
      } catch {
        // not JSON after all: sent as the text it is
      }
    }
    attrs.data = data;
  }
  return new CloudEvent<unknown>(attrs as never, false);
}
