// Presence on Redis. Per tenant one sorted set of "user\0device" scored by the
// last heartbeat (ms) — the source of truth for age-out — plus a per-user
// sorted set (lookups by member list) and a hash of status/resource. Stale
// devices fall out by score: ZRANGEBYSCORE/ZREMRANGEBYSCORE, no sweeper.
import type { Redis, Result as Reply } from 'ioredis';
import type { DeviceRef, PresenceEntry, PresenceStatus, PresenceStore } from './ports.ts';

type Result<T> = [Error | null, T];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    heraldPresenceBeat(
      all: string,
      ofUser: string,
      info: string,
      member: string,
      device: string,
      nowMs: number,
      value: string,
      keyTtlMs: number,
    ): Reply<[string | null, string | null], Context>;
  }
}

// A heartbeat reads the device's previous score and status and writes the new ones atomically
// (so `changed` is right when two connections of a device beat at once). A script, not a
// MULTI: one command, which the node's auto-pipelining client sends together with the other
// connections' (a reconnect storm's heartbeats share socket writes).
const BEAT = `local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
local was = redis.call('HGET', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {prev, was}`;

export function redisPresence(
  redis: Redis,
  opts: { prefix?: string; windowMs?: number } = {},
): PresenceStore {
  const p = opts.prefix ?? '';
  const windowMs = opts.windowMs ?? 90_000;
  const all = (t: string) => `${p}t:${t}:presence`;
  const ofUser = (t: string, u: string) => `${p}t:${t}:presence:u:${u}`;
  const info = (t: string) => `${p}t:${t}:presence:info`;
  const keyTtlMs = windowMs * 2;
  redis.defineCommand('heraldPresenceBeat', { numberOfKeys: 3, lua: BEAT });

  return {
    windowMs,
    async heartbeat(tenant, user, device, status: PresenceStatus, resource, nowMs) {
      const member = `${user}\0${device}`;
      const value = JSON.stringify({ status, resource });
      // A Lua false (no previous entry) arrives as null.
      const [prevScore, prevInfo] = await redis.heraldPresenceBeat(
        all(tenant),
        ofUser(tenant, user),
        info(tenant),
        member,
        device,
        nowMs,
        value,
        keyTtlMs,
      );
      const wasLive = prevScore !== null && Number(prevScore) > nowMs - windowMs;
      return { changed: !wasLive || prevInfo !== value };
    },
    async list(tenant, users, nowMs) {
      if (users.length === 0) return [];
      const min = `(${nowMs - windowMs}`;
      const pipe = redis.pipeline();
      for (const u of users) pipe.zrangebyscore(ofUser(tenant, u), min, '+inf', 'WITHSCORES');
      const res = (await pipe.exec()) as Result<string[]>[];
      const found: { user: string; device: string; score: number }[] = [];
      res.forEach(([, flat], i) => {
        for (let j = 0; j < (flat?.length ?? 0); j += 2) {
          found.push({ user: users[i], device: flat[j], score: Number(flat[j + 1]) });
        }
      });
      if (found.length === 0) return [];
      const infos = await redis.hmget(info(tenant), ...found.map((f) => `${f.user}\0${f.device}`));
      return found.map((f, i): PresenceEntry => {
        const parsed = infos[i]
          ? (JSON.parse(infos[i]) as { status: PresenceStatus; resource: string | null })
          : null;
        return {
          user_id: f.user,
          device_id: f.device,
          status: parsed?.status ?? 'active',
          resource: parsed?.resource ?? null,
          last_seen_ms: f.score,
        };
      });
    },
    async ageOut(tenant, nowMs) {
      const max = nowMs - windowMs;
      // Read and remove atomically: when several nodes age out, each stale device is reported once.
      const res = (await redis
        .multi()
        .zrangebyscore(all(tenant), '-inf', max)
        .zremrangebyscore(all(tenant), '-inf', max)
        .exec()) as Result<string[]>[];
      const gone = res[0][1] ?? [];
      if (gone.length === 0) return [];
      const refs: DeviceRef[] = gone.map((m) => {
        const i = m.indexOf('\0');
        return { user_id: m.slice(0, i), device_id: m.slice(i + 1) };
      });
      const tx = redis.multi();
      for (const r of refs) tx.zrem(ofUser(tenant, r.user_id), r.device_id);
      tx.hdel(info(tenant), ...gone);
      await tx.exec();
      return refs;
    },
    async remove(tenant, user, device) {
      const member = `${user}\0${device}`;
      await redis
        .multi()
        .zrem(all(tenant), member)
        .zrem(ofUser(tenant, user), device)
        .hdel(info(tenant), member)
        .exec();
    },
  };
}
