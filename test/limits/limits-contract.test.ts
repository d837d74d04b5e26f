// The limiter port's contract, run against both adapters: the in-process one
// (embedded node) and the Redis one (cluster). Windows count per key, buckets
// allow the burst, socket slots respect both caps atomically under
// concurrency, are given back on release, and expire when not refreshed.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLimiters, memorySlots } from '../../src/limits/memory.ts';
import type { LimiterPort, SocketSlots } from '../../src/limits/port.ts';
import { redisLimiters, redisSlots } from '../../src/limits/redis.ts';
import { REDIS_URL, redisAvailable, testPrefix } from '../support/redis.ts';

type Make = () => { limiters: LimiterPort; slots: SocketSlots; fallbacks: string[] };

const adapters: [string, Make][] = [
  ['memory', () => ({ limiters: memoryLimiters(), slots: memorySlots(), fallbacks: [] })],
];

let redis: Redis | null = null;
const { prefix, cleanup } = testPrefix();
if (redisAvailable()) {
  adapters.push([
    'redis',
    () => {
      const fallbacks: string[] = [];
      const opts = {
        prefix: `${prefix}${Math.random().toString(36).slice(2, 8)}:`,
        onFallback: (w: string) => fallbacks.push(w),
      };
      return {
        limiters: redisLimiters(redis as Redis, opts),
        slots: redisSlots(redis as Redis, opts),
        fallbacks,
      };
    },
  ]);
}

beforeAll(async () => {
  if (!redisAvailable()) return;
  redis = new Redis(REDIS_URL);
  await new Promise<void>((resolve) => redis?.once('ready', () => resolve()));
});
afterAll(async () => {
  await cleanup();
  await redis?.quit();
});

describe.each(adapters)('limits contract (%s)', (_name, make) => {
  it('a window allows max hits per key, then says when to retry', async () => {
    const { limiters, fallbacks } = make();
    const w = limiters.window('send', { max: 3, windowSec: 60 });
    const verdicts = [];
    for (let i = 0; i < 4; i++) verdicts.push(await w.take('t1:alice'));
    expect(verdicts.slice(0, 3)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(verdicts[3]).toMatchObject({ ok: false });
    const last = verdicts[3];
    if (!last.ok) expect(last.retryAfterSec).toBeGreaterThan(0);
    expect(last.ok ? 0 : last.retryAfterSec).toBeLessThanOrEqual(60);
    // Another key, and the same key of another limit, have budgets of their own.
    expect(await w.take('t1:bob')).toEqual({ ok: true });
    expect(await limiters.window('api_key', { max: 1, windowSec: 60 }).take('t1:alice')).toEqual({
      ok: true,
    });
    expect(fallbacks).toEqual([]);
  });

  it('a bucket allows its burst at once', async () => {
    const { limiters } = make();
    const b = limiters.bucket('handshake_user', { perSec: 1, burst: 5 });
    const oks = [];
    for (let i = 0; i < 7; i++) oks.push((await b.take('t1:u')).ok);
    expect(oks).toEqual([true, true, true, true, true, false, false]);
  });

  it('slots respect the per-user and per-tenant caps, even when taken all at once', async () => {
    const { slots } = make();
    const caps = { perUser: 3, perTenant: 5 };
    const now = Date.now();
    const mine = await Promise.all(
      Array.from({ length: 10 }, (_, i) => slots.acquire('t1', 'alice', `a${i}`, caps, 60_000, now)),
    );
    expect(mine.filter((r) => r.ok)).toHaveLength(3);
    expect(mine.filter((r) => !r.ok)).toEqual(Array(7).fill({ ok: false, over: 'user' }));
    const others = await Promise.all(
      ['b', 'c', 'd'].map((u) => slots.acquire('t1', u, `${u}0`, caps, 60_000, now)),
    );
    expect(others.map((r) => r.ok)).toEqual([true, true, false]);
    expect(others[2]).toEqual({ ok: false, over: 'tenant' });
    // Another tenant is counted apart.
    expect(await slots.acquire('t2', 'alice', 'x0', caps, 60_000, now)).toEqual({ ok: true });
  });

  it('a released slot is free again; an unrefreshed one expires, a refreshed one does not', async () => {
    const { slots } = make();
    const caps = { perUser: 1, perTenant: 0 };
    const t0 = Date.now();
    expect(await slots.acquire('t1', 'u', 's1', caps, 1_000, t0)).toEqual({ ok: true });
    expect(await slots.acquire('t1', 'u', 's2', caps, 1_000, t0)).toMatchObject({ ok: false });
    await slots.release('t1', 'u', 's1');
    expect(await slots.acquire('t1', 'u', 's3', caps, 1_000, t0)).toEqual({ ok: true });
    // s3 is refreshed past t0 + 1 s: still held then.
    await slots.refresh('t1', [{ user: 'u', id: 's3' }], 5_000, t0 + 500);
    expect(await slots.acquire('t1', 'u', 's4', caps, 1_000, t0 + 2_000)).toMatchObject({ ok: false });
    // Not refreshed again: at t0 + 6 s it has expired (a node that died), and the slot is free.
    expect(await slots.acquire('t1', 'u', 's5', caps, 1_000, t0 + 6_000)).toEqual({ ok: true });
  });
});
