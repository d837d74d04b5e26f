// Prometheus metrics. One registry per Herald node (host-level, so the
// gateway and relay add theirs to the same one); /metrics serves it.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../store/db.ts';

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

/**
 * Relay lag (DESIGN §11): the age of the oldest unpublished outbox row, read from the store
 * at each scrape (one index probe per partition: the relay publishes each partition in id
 * order, so its oldest pending row is its first). 0 when nothing is pending. Exported by
 * every node, so it still rises when no relay runs at all. A store that does not answer
 * within the bound leaves the series out of that scrape rather than failing /metrics.
 */
export function relayLagGauge(registry: Registry, db: Pick<Db, 'query'>, boundMs = 2_000): void {
  new Gauge({
    name: 'herald_relay_lag_seconds',
    help: 'Age of the oldest unpublished outbox row (0: nothing pending), read at scrape',
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const lag = await bounded(db.query<{ lag: number | null }>(RELAY_LAG), boundMs);
        this.set(Math.max(0, Number(lag.rows[0]?.lag ?? 0)));
      } catch {
        // Left out of this scrape: herald_ready says why.
      }
    },
  });
}

/**
 * herald_ready: 1 when the store answers and the shared infrastructure (Redis) is up, as
 * /readyz checks, read at scrape. Unlike /readyz it ignores a drain, so a rolling restart
 * does not look like an outage to the alert rules.
 */
export function readinessGauge(
  registry: Registry,
  db: Pick<Db, 'query'>,
  infraHealthy: () => boolean,
  boundMs = 2_000,
): void {
  new Gauge({
    name: 'herald_ready',
    help: 'Whether the store and Redis (when used) answer: 1 ready, 0 not (read at scrape; drains ignored)',
    registers: [registry],
    async collect() {
      try {
        await bounded(db.query('SELECT 1'), boundMs);
        this.set(infraHealthy() ? 1 : 0);
      } catch {
        this.set(0);
      }
    },
  });
}

async function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('store did not answer')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const RELAY_LAG = `
  SELECT EXTRACT(EPOCH FROM now() - min(o.created_at))::float8 AS lag
    FROM generate_series(0, 15) AS p(n),
         LATERAL (SELECT created_at FROM outbox
                   WHERE published_at IS NULL AND partition = p.n ORDER BY id LIMIT 1) o`;

/** Gap repairs over HTTP: GET …/events calls (a client filling a hole or an incomplete replay). */
export function gapFetchMetrics(registry: Registry): (events: number) => void {
  const fetches = new Counter({
    name: 'herald_api_gap_fetches_total',
    help: 'GET /v1/conversations/:id/events calls answered (clients repairing a gap)',
    registers: [registry],
  });
  const events = new Counter({
    name: 'herald_api_gap_fetch_events_total',
    help: 'Events returned by GET /v1/conversations/:id/events',
    registers: [registry],
  });
  return (n) => {
    fetches.inc();
    events.inc(n);
  };
}
