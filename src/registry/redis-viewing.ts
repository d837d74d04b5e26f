// Viewing registry on Redis: one sorted set per (tenant, conversation) of
// "user\0device" scored by expiry time. A read is one ZRANGEBYSCORE from now on:
// expired members are skipped by score, and removed when a view of that
// conversation is next set (the key itself expires when nobody sets one), so no
// sweeper is needed. Every send reads this set: one read-only command, never a
// MULTI with a write, lets the client pipeline concurrent sends' reads together.
// Keys start with the tenant.
import type { Redis } from 'ioredis';
import type { ViewingRegistry } from '../domain/ports.ts';

export function redisViewing(
  redis: Redis,
  opts: { prefix?: string; ttlMs?: number; now?: () => number } = {},
): ViewingRegistry {
  const prefix = opts.prefix ?? '';
  const ttlMs = opts.ttlMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const roomKey = (tenant: string, conversation: string) => `${prefix}t:${tenant}:view:${conversation}`;
  const deviceKey = (tenant: string, user: string, device: string) =>
    `${prefix}t:${tenant}:viewdev:${user}:${device}`;

  return {
    async set(tenant, user, device, conversation) {
      const member = `${user}\0${device}`;
      const dk = deviceKey(tenant, user, device);
      const prev = await redis.get(dk);
      const tx = redis.multi();
      if (prev && prev !== conversation) tx.zrem(roomKey(tenant, prev), member);
      if (conversation === null) {
        tx.del(dk);
      } else {
        const t = now();
        const rk = roomKey(tenant, conversation);
        tx.zremrangebyscore(rk, '-inf', t);
        tx.zadd(rk, t + ttlMs, member);
        tx.pexpire(rk, ttlMs * 2);
        tx.set(dk, conversation, 'PX', ttlMs);
      }
      await tx.exec();
    },
    async viewers(tenant, conversation, candidates) {
      // Expires at its score: a member scored now is gone (exclusive bound).
      const live = await redis.zrangebyscore(roomKey(tenant, conversation), `(${now()}`, '+inf');
      const pool = candidates ? new Set(candidates) : null;
      const out = new Set<string>();
      for (const m of live) {
        const user = m.slice(0, m.indexOf('\0'));
        if (!pool || pool.has(user)) out.add(user);
      }
      return out;
    },
  };
}
