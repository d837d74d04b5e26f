// Viewing registry on Redis: one sorted set per (tenant, conversation) of
// "user\0device" scored by expiry time; stale members age out by score on
// read, so no sweeper is needed. Keys start with the tenant.
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
        const expires = now() + ttlMs;
        const rk = roomKey(tenant, conversation);
        tx.zadd(rk, expires, member);
        tx.pexpire(rk, ttlMs * 2);
        tx.set(dk, conversation, 'PX', ttlMs);
      }
      await tx.exec();
    },
    async viewers(tenant, conversation, candidates) {
      const rk = roomKey(tenant, conversation);
      const t = now();
      const [, live] = (await redis
        .multi()
        .zremrangebyscore(rk, '-inf', t)
        .zrangebyscore(rk, t, '+inf')
        .exec()) as [[Error | null, number], [Error | null, string[]]];
      const pool = candidates ? new Set(candidates) : null;
      const out = new Set<string>();
      for (const m of live[1] ?? []) {
        const user = m.slice(0, m.indexOf('\0'));
        if (!pool || pool.has(user)) out.add(user);
      }
      return out;
    },
  };
}
