// Push metrics on the node's registry: every outcome by provider (sent, invalid_token,
// retry, failed, and skipped_<reason>) and the time a provider took to answer.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface PushMetrics {
  outcome(provider: string, outcome: string): void;
  latency(provider: string, ms: number): void;
}

export function pushMetrics(registry: Registry): PushMetrics {
  const outcomes = new Counter({
    name: 'herald_push_outcomes_total',
    help: 'Push decisions and attempts by provider and outcome (sent, invalid_token, retry, failed, skipped_*)',
    labelNames: ['provider', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'herald_push_send_duration_seconds',
    help: 'Time a push provider took to answer one attempt',
    labelNames: ['provider'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    outcome: (provider, outcome) => outcomes.inc({ provider, outcome }),
    latency: (provider, ms) => duration.observe({ provider }, ms / 1000),
  };
}

export const noPushMetrics: PushMetrics = { outcome: () => {}, latency: () => {} };
