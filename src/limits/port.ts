// Ports for limits that must hold across the cluster: rate limits (sends per
// user, calls per API key, handshakes per IP and per user) and caps on
// concurrent sockets per user and per tenant. The embedded node uses the
// in-process adapters (memory.ts); with REDIS_URL every node shares one
// budget through Redis (redis.ts). src/host/adapters.ts chooses.

/** A fixed window: at most `max` hits per `windowSec`. */
export interface WindowSpec {
  max: number;
  windowSec: number;
}

/** A token bucket: `burst` hits at once, refilled at `perSec`. */
export interface BucketSpec {
  perSec: number;
  burst: number;
}

export type Verdict = { ok: true } | { ok: false; retryAfterSec: number };

export interface Limiter {
  /** Counts one hit of `key` (callers put the tenant first, e.g. `tenant:user`). */
  take(key: string): Promise<Verdict>;
}

export interface LimiterPort {
  window(name: string, spec: WindowSpec): Limiter;
  /**
   * In process: an exact token bucket. On Redis: approximated by a fixed window of `burst`
   * hits per `burst / perSec` seconds — the same burst and the same long-run rate.
   */
  bucket(name: string, spec: BucketSpec): Limiter;
}

/** Concurrent sockets (WebSocket and SSE) per user and per tenant; 0 = no cap. */
export interface SocketCaps {
  perUser: number;
  perTenant: number;
}

export type Admission = { ok: true } | { ok: false; over: 'user' | 'tenant' };

/**
 * Slots held by open sockets. A slot carries an expiry refreshed while its socket lives,
 * so the slots of a node that crashed free themselves after `ttlMs`.
 */
export interface SocketSlots {
  /** Takes a slot atomically if the user and the tenant are under their caps. */
  acquire(
    tenant: string,
    user: string,
    id: string,
    caps: SocketCaps,
    ttlMs: number,
    nowMs: number,
  ): Promise<Admission>;
  /** Extends the expiry of slots still held. */
  refresh(
    tenant: string,
    held: readonly { user: string; id: string }[],
    ttlMs: number,
    nowMs: number,
  ): Promise<void>;
  release(tenant: string, user: string, id: string): Promise<void>;
}
