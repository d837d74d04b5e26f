// Cluster-wide limits on Redis. Rate limits use rate-limiter-flexible's
// RateLimiterRedis (one atomic INCR+TTL script per hit); socket slots are two
// sorted sets per tenant (all slots, and the user's), scored by expiry and
// taken by one Lua script, so concurrent handshakes on many nodes cannot
// overshoot a cap. Keys: `<HERALD_REDIS_PREFIX>rl:<name>:<tenant>:…` and
// `<prefix>t:<tenant>:slots[:u:<user>]`.
//
// When Redis is unreachable (or does not answer within timeoutMs) the limits fail open to the node's own
// in-process limiter (never to "no limit", never to refusing everyone):
// each node then enforces the limit alone, as the embedded node does, and
// every fallback is reported (herald_limits_fallback_total) so an operator
// sees that the cluster-wide budget is degraded.
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { memoryLimiters, memorySlots } from './memory.ts';
import type { Limiter, LimiterPort, SocketSlots, Verdict } from './port.ts';

const DEFAULT_TIMEOUT_MS = 500;

export interface RedisLimitsOptions {
  prefix?: string;
  /** A check Redis has not answered in this long is decided in process (default 500 ms). */
  timeoutMs?: number;
  /** Called on every check that Redis could not answer (the in-process twin answered). */
  onFallback?: (what: string, err: unknown) => void;
}

/** Rejects when `p` takes longer than `ms`: a hung Redis must not hang a handshake or a send. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function shared(
  name: string,
  redis: Redis,
  prefix: string,
  points: number,
  durationSec: number,
  twin: Limiter,
  onFallback: (what: string, err: unknown) => void,
  timeoutMs: number,
): Limiter {
  const rl = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}rl:${name}`,
    points,
    duration: durationSec,
    // A Redis that is down answers at once (the twin decides) instead of queueing the check.
    rejectIfRedisNotReady: true,
  });
  return {
    async take(key): Promise<Verdict> {
      try {
        await within(rl.consume(key), timeoutMs);
        return { ok: true };
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          return { ok: false, retryAfterSec: Math.max(1, Math.ceil(err.msBeforeNext / 1000)) };
        }
        onFallback(name, err);
        return twin.take(key);
      }
    },
  };
}

export function redisLimiters(redis: Redis, opts: RedisLimitsOptions = {}): LimiterPort {
  const prefix = opts.prefix ?? '';
  const onFallback = opts.onFallback ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const local = memoryLimiters();
  return {
    window: (name, spec) =>
      shared(name, redis, prefix, spec.max, spec.windowSec, local.window(name, spec), onFallback, timeoutMs),
    bucket: (name, spec) =>
      shared(
        name,
        redis,
        prefix,
        spec.burst,
        Math.max(1, Math.ceil(spec.burst / spec.perSec)),
        local.bucket(name, spec),
        onFallback,
        timeoutMs,
      ),
  };
}

// KEYS: user set, tenant set. ARGV: now, expires, id, perUser, perTenant, key TTL (ms).
// Returns 0 (taken), 1 (user at cap), 2 (tenant at cap).
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local perUser = tonumber(ARGV[4])
local perTenant = tonumber(ARGV[5])
if perUser > 0 and redis.call('ZCARD', KEYS[1]) >= perUser then return 1 end
if perTenant > 0 and redis.call('ZCARD', KEYS[2]) >= perTenant then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 0
`;

export function redisSlots(redis: Redis, opts: RedisLimitsOptions = {}): SocketSlots {
  const p = opts.prefix ?? '';
  const onFallback = opts.onFallback ?? (() => {});
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const all = (t: string) => `${p}t:${t}:slots`;
  const ofUser = (t: string, u: string) => `${p}t:${t}:slots:u:${u}`;
  // Slots taken while Redis was away live here, and are released here.
  const local = memorySlots();
  const localIds = new Set<string>();
  return {
    async acquire(tenant, user, id, caps, ttlMs, nowMs) {
      if (redis.status === 'ready') {
        try {
          const res = (await within(
            redis.eval(
              ACQUIRE,
              2,
              ofUser(tenant, user),
              all(tenant),
              nowMs,
              nowMs + ttlMs,
              id,
              caps.perUser,
              caps.perTenant,
              ttlMs * 4,
            ),
            timeoutMs,
          )) as number;
          if (res === 0) return { ok: true };
          return { ok: false, over: res === 1 ? 'user' : 'tenant' };
        } catch (err) {
          // A script that timed out may still have run: its slot then expires after ttlMs.
          onFallback('socket_slots', err);
        }
      } else onFallback('socket_slots', new Error(`redis is ${redis.status}`));
      const res = await local.acquire(tenant, user, id, caps, ttlMs, nowMs);
      if (res.ok) localIds.add(id);
      return res;
    },
    async refresh(tenant, held, ttlMs, nowMs) {
      const shared = held.filter((h) => !localIds.has(h.id));
      await local.refresh(tenant, held, ttlMs, nowMs);
      if (shared.length === 0) return;
      const expires = nowMs + ttlMs;
      const tx = redis.multi();
      for (const h of shared) {
        tx.zadd(ofUser(tenant, h.user), 'XX', expires, h.id);
        tx.zadd(all(tenant), 'XX', expires, h.id);
        tx.pexpire(ofUser(tenant, h.user), ttlMs * 4);
      }
      tx.pexpire(all(tenant), ttlMs * 4);
      await tx.exec();
    },
    async release(tenant, user, id) {
      if (localIds.delete(id)) return local.release(tenant, user, id);
      await redis.multi().zrem(ofUser(tenant, user), id).zrem(all(tenant), id).exec();
    },
  };
}
