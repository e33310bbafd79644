// core/v1 and events.k8s.io/v1 Events are one resource in two shapes, as in Kubernetes: stored
// in the core/v1 shape, shown in the events.k8s.io/v1 one on request.

type Rec = Record<string, any>;

function defined(o: Rec): Rec {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** core/v1 → events.k8s.io/v1. */
export function toEventsV1(e: Rec): Rec {
  return defined({
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: e.metadata,
    eventTime: e.eventTime ?? null,
    series: e.series,
    reportingController: e.reportingComponent ?? e.source?.component,
    reportingInstance: e.reportingInstance ?? e.source?.host,
    action: e.action,
    reason: e.reason,
    regarding: e.involvedObject,
    related: e.related,
    note: e.message,
    type: e.type,
    deprecatedSource: e.source,
    deprecatedFirstTimestamp: e.firstTimestamp,
    deprecatedLastTimestamp: e.lastTimestamp,
    deprecatedCount: e.count,
  });
}

/** events.k8s.io/v1 → core/v1. */
export function fromEventsV1(e: Rec): Rec {
  return defined({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: e.metadata,
    eventTime: e.eventTime ?? undefined,
    series: e.series,
    reportingComponent: e.reportingController,
    reportingInstance: e.reportingInstance,
    action: e.action,
    reason: e.reason,
    involvedObject: e.regarding ?? {},
    related: e.related,
    message: e.note,
    type: e.type,
    source: e.deprecatedSource ?? (e.reportingController ? { component: e.reportingController, host: e.reportingInstance } : undefined),
    firstTimestamp: e.deprecatedFirstTimestamp,
    lastTimestamp: e.deprecatedLastTimestamp ?? e.series?.lastObservedTime ?? e.eventTime ?? undefined,
    count: e.deprecatedCount ?? e.series?.count,
  });
}
