// What the limits report: checks that Redis could not answer (decided by the
// node's own in-process limiter instead), and refusals, by limit name.

import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Limiter, LimiterPort } from './port.ts';

/** Counts each fallback and logs a warning at most once per limit per 10 s. */
export function limiterFallbackReporter(
  registry: Registry,
  log: Logger,
): (what: string, err: unknown) => void {
  const fallbacks = new Counter({
    name: 'herald_limits_fallback_total',
    help: 'Limit checks Redis could not answer, decided per node instead (cluster-wide budget degraded)',
    labelNames: ['limit'],
    registers: [registry],
  });
  const warned = new Map<string, number>();
  return (what, err) => {
    fallbacks.inc({ limit: what });
    const now = Date.now();
    if (now - (warned.get(what) ?? 0) < 10_000) return;
    warned.set(what, now);
    log.warn({ err, limit: what }, 'redis unreachable: limit enforced per node');
  };
}

/**
 * Counts every refusal of every limiter made through `port`, by limit name (send, api_key,
 * handshake_ip, handshake_user): herald_rate_limited_total. Wrapping the port once covers
 * the HTTP API and the gateway alike, on the embedded node and on Redis.
 */
export function countRefusals(port: LimiterPort, registry: Registry): LimiterPort {
  const refused = new Counter({
    name: 'herald_rate_limited_total',
    help: 'Requests, frames and handshakes refused by a rate limit, by limit',
    labelNames: ['limit'],
    registers: [registry],
  });
  const counted = (name: string, limiter: Limiter): Limiter => ({
    async take(key) {
      const v = await limiter.take(key);
      if (!v.ok) refused.inc({ limit: name });
      return v;
    },
  });
  return {
    window: (name, spec) => counted(name, port.window(name, spec)),
    bucket: (name, spec) => counted(name, port.bucket(name, spec)),
  };
}
