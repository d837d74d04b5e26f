// Typing on Redis: a sorted set per (tenant, conversation) of users scored by
// expiry (~3 s). Never touches PostgreSQL; expired typers fall out by score.
import type { Redis } from 'ioredis';
import type { TypingStore } from './ports.ts';

export function redisTyping(redis: Redis, opts: { prefix?: string; ttlMs?: number } = {}): TypingStore {
  const p = opts.prefix ?? '';
  const ttlMs = opts.ttlMs ?? 3_000;
  const key = (t: string, c: string) => `${p}t:${t}:typing:${c}`;
  return {
    ttlMs,
    async set(tenant, conversation, user, nowMs) {
      const k = key(tenant, conversation);
      const res = (await redis
        .multi()
        .zscore(k, user)
        .zadd(k, nowMs + ttlMs, user)
        .pexpire(k, ttlMs * 2)
        .exec()) as [Error | null, string | null][];
      const prev = res[0][1];
      return { fresh: prev === null || Number(prev) <= nowMs };
    },
    async list(tenant, conversation, nowMs) {
      const k = key(tenant, conversation);
      const res = (await redis
        .multi()
        .zremrangebyscore(k, '-inf', nowMs)
        .zrangebyscore(k, `(${nowMs}`, '+inf')
        .exec()) as [Error | null, string[]][];
      return res[1][1] ?? [];
    },
  };
}
