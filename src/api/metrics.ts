// Prometheus metrics. One registry per Herald node (host-level, so the
// gateway and relay add theirs to the same one); /metrics serves it.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'herald_' });
  return registry;
}

export interface HttpMetrics {
  requests: Counter<'method' | 'route' | 'status'>;
  duration: Histogram<'method' | 'route'>;
}

export function httpMetrics(registry: Registry): HttpMetrics {
  return {
    requests: new Counter({
      name: 'herald_http_requests_total',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'herald_http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** Relay metrics (DESIGN §11): rows published and the commit → publish latency. */
export function relayMetrics(registry: Registry): (row: { created_at: Date }) => void {
  const published = new Counter({
    name: 'herald_relay_published_total',
    help: 'Outbox rows published to the bus',
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'herald_relay_commit_to_publish_seconds',
    help: 'Time from outbox insert to bus publish',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  return (row) => {
    published.inc();
    latency.observe(Math.max(0, Date.now() - new Date(row.created_at).getTime()) / 1000);
  };
}
