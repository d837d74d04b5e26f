// What the limits report: checks that Redis could not answer (decided by the
// node's own in-process limiter instead), by limit name.

import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../host/logger.ts';

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
