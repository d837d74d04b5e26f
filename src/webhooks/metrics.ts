// Webhook metrics: the outcome of every attempt the dispatcher recorded, its latency, and
// endpoints disabled for failing. An attempt whose lease another node took over meanwhile
// is not counted here: that node's outcome is the record.
import { Counter, Histogram, type Registry } from 'prom-client';

/** delivered: 2xx; failed: will be retried; dead: the retry window is over (dead letter). */
export type WebhookOutcome = 'delivered' | 'failed' | 'dead';

export interface AttemptReport {
  outcome: WebhookOutcome;
  latencyMs: number;
  /** The attempt's dead letter disabled its endpoint. */
  disabled: boolean;
}

export function webhookMetrics(registry: Registry): (r: AttemptReport) => void {
  const attempts = new Counter({
    name: 'herald_webhook_attempts_total',
    help: 'Webhook attempts by outcome (delivered, failed and retried later, dead: dead-lettered)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'herald_webhook_attempt_duration_seconds',
    help: 'Duration of a webhook attempt (DNS check, connect, request, response)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const disabled = new Counter({
    name: 'herald_webhook_endpoints_disabled_total',
    help: 'Webhook endpoints disabled because every attempt failed for a whole retry window',
    registers: [registry],
  });
  // Every outcome is present from the start, so rate() sees the first one.
  for (const outcome of ['delivered', 'failed', 'dead'] as const) attempts.inc({ outcome }, 0);
  return (r) => {
    attempts.inc({ outcome: r.outcome });
    latency.observe(r.latencyMs / 1000);
    if (r.disabled) disabled.inc();
  };
}
