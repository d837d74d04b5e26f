// Connection registry on Redis: per tenant a sorted set of connection ids
// scored by expiry (ms), a per-user sorted set for lookups, and a hash of the
// entries. A dead node stops refreshing, so its entries expire by score.
// A registration is plain commands, not a MULTI: each is idempotent and a reader
// skips an id whose entry is not written yet, and plain commands are what the
// node's auto-pipelining client (host/adapters.ts) sends together — a connect storm's
// registrations share socket writes instead of one transaction each.
import type { Redis } from 'ioredis';
import type { ConnectionEntry, ConnectionRegistry } from './ports.ts';

export function redisConnections(redis: Redis, opts: { prefix?: string } = {}): ConnectionRegistry {
  const p = opts.prefix ?? '';
  const all = (t: string) => `${p}t:${t}:conns`;
  const ofUser = (t: string, u: string) => `${p}t:${t}:conns:u:${u}`;
  const info = (t: string) => `${p}t:${t}:conns:info`;

  return {
    async register(tenant, entry, ttlMs, nowMs) {
      const expires = nowMs + ttlMs;
      await Promise.all([
        // The entry first: an id is never listed without it for longer than this round trip.
        redis.hset(info(tenant), entry.connection_id, JSON.stringify(entry)),
        redis.zadd(all(tenant), expires, entry.connection_id),
        redis.zadd(ofUser(tenant, entry.user_id), expires, entry.connection_id),
        // Keys of an idle tenant go away by themselves.
        redis.pexpire(all(tenant), ttlMs * 4),
        redis.pexpire(ofUser(tenant, entry.user_id), ttlMs * 4),
        redis.pexpire(info(tenant), ttlMs * 4),
      ]);
    },
    async refresh(tenant, ids, ttlMs, nowMs) {
      if (ids.length === 0) return;
      const raw = await redis.hmget(info(tenant), ...ids);
      const expires = nowMs + ttlMs;
      const tx = redis.multi();
      ids.forEach((id, i) => {
        const e = raw[i] ? (JSON.parse(raw[i]) as ConnectionEntry) : null;
        if (!e) return;
        tx.zadd(all(tenant), 'XX', expires, id);
        tx.zadd(ofUser(tenant, e.user_id), 'XX', expires, id);
        tx.pexpire(ofUser(tenant, e.user_id), ttlMs * 4);
      });
      tx.pexpire(all(tenant), ttlMs * 4).pexpire(info(tenant), ttlMs * 4);
      await tx.exec();
    },
    async unregister(tenant, id) {
      const raw = await redis.hget(info(tenant), id);
      const tx = redis.multi().zrem(all(tenant), id).hdel(info(tenant), id);
      if (raw) tx.zrem(ofUser(tenant, (JSON.parse(raw) as ConnectionEntry).user_id), id);
      await tx.exec();
    },
    async ofUser(tenant, user, nowMs) {
      const key = ofUser(tenant, user);
      const res = (await redis
        .multi()
        .zremrangebyscore(key, '-inf', nowMs)
        .zrangebyscore(key, `(${nowMs}`, '+inf', 'WITHSCORES')
        .exec()) as [Error | null, string[]][];
      const flat = res[1][1] ?? [];
      if (flat.length === 0) return [];
      const ids: string[] = [];
      const scores: number[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i]);
        scores.push(Number(flat[i + 1]));
      }
      const raw = await redis.hmget(info(tenant), ...ids);
      const out: ConnectionEntry[] = [];
      raw.forEach((r, i) => {
        if (r) out.push({ ...(JSON.parse(r) as ConnectionEntry), expires_ms: scores[i] });
      });
      return out;
    },
  };
}
