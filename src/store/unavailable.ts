// A lost or unreachable database is not a bug in the request: it becomes
// STORE_UNAVAILABLE (503, Retry-After), which clients retry with the same
// Idempotency-Key / client_id. Everything else (constraint violations, SQL
// errors) passes through untouched so the domain still sees it.
import { HeraldError } from '../protocol/index.ts';

/** Seconds a client should wait before retrying while the store is unavailable. */
export const STORE_RETRY_AFTER_SEC = 1;

// Socket-level failures: refused, reset, unreachable, timed out, DNS.
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

// SQLSTATEs of a server going away or not accepting connections yet:
// 57P01 admin_shutdown (pg_terminate_backend, fast shutdown), 57P02 crash_shutdown,
// 57P03 cannot_connect_now (starting up / shutting down), 53300 too_many_connections.
const SQLSTATE = new Set(['57P01', '57P02', '57P03', '53300']);

// pg and pg-pool report a dead connection or a connect timeout with plain Errors.
const MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|not queryable/i;

/** Whether err means "the database cannot be reached right now" (retryable), not a bad query. */
export function isStoreUnavailable(err: unknown): boolean {
  if (err instanceof HeraldError) return err.code === 'STORE_UNAVAILABLE';
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK.has(code) || SQLSTATE.has(code)) return true;
    // Class 08: connection exceptions.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (MESSAGE.test(err.message)) return true;
  // AggregateError from a connect to several addresses (localhost → ::1 and 127.0.0.1).
  if (err instanceof AggregateError) return err.errors.some(isStoreUnavailable);
  return false;
}

/** err as STORE_UNAVAILABLE when the database is unreachable; otherwise err unchanged. */
export function asStoreError(err: unknown): unknown {
  if (err instanceof HeraldError || !isStoreUnavailable(err)) return err;
  const he = new HeraldError('STORE_UNAVAILABLE', undefined, { retryAfter: STORE_RETRY_AFTER_SEC });
  he.cause = err;
  return he;
}
