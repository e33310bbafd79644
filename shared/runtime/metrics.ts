// Metrics of one function host, in a registry of its own so several hosts can share a process.
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export type Outcome = 'ack' | 'reply' | 'retry' | 'poison' | 'error' | 'rejected';

export interface HostMetrics {
  registry: Registry;
  events: Counter<'type' | 'outcome'>;
  duration: Histogram<'type' | 'outcome'>;
}

export function createHostMetrics(functionName: string): HostMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ function: functionName });
  collectDefaultMetrics({ register: registry });
  const events = new Counter({
    name: 'events_total',
    help: 'CloudEvents received, by type and outcome (ack, reply, retry, poison, error, rejected)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'event_handler_duration_seconds',
    help: 'Time from receiving a CloudEvent to answering it, by type and outcome',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  return { registry, events, duration };
}
