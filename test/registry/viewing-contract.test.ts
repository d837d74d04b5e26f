// One contract for both viewing registries (in-process and Redis).
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { ViewingRegistry } from '../../src/domain/ports.ts';
import { memoryViewing } from '../../src/registry/memory-viewing.ts';
import { redisViewing } from '../../src/registry/redis-viewing.ts';
import { REDIS_URL, redisAvailable, testPrefix } from '../support/redis.ts';

const clock = { t: 1_000_000 };
const now = () => clock.t;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const adapters: [string, () => ViewingRegistry][] = [['memory', () => memoryViewing(60_000, now)]];
if (redisAvailable()) {
  adapters.push([
    'redis',
    () => {
      const redis = new Redis(REDIS_URL);
      const p = testPrefix();
      cleanups.push(async () => {
        await p.cleanup();
        await redis.quit();
      });
      return redisViewing(redis, { prefix: p.prefix, ttlMs: 60_000, now });
    },
  ]);
}

describe.each(adapters)('viewing registry (%s)', (_name, make) => {
  it('knows who views a conversation, per tenant, until they move away or expire', async () => {
    const v = make();
    await v.set('t1', 'alice', 'd1', 'c1');
    await v.set('t1', 'bob', 'd1', 'c1');
    await v.set('t2', 'carol', 'd1', 'c1');
    expect([...(await v.viewers('t1', 'c1'))].sort()).toEqual(['alice', 'bob']);
    expect([...(await v.viewers('t1', 'c1', ['bob']))]).toEqual(['bob']);
    expect([...(await v.viewers('t2', 'c1'))]).toEqual(['carol']);

    await v.set('t1', 'alice', 'd1', 'c2'); // moving away leaves c1
    expect([...(await v.viewers('t1', 'c1'))]).toEqual(['bob']);
    await v.set('t1', 'bob', 'd1', null);
    expect([...(await v.viewers('t1', 'c1'))]).toEqual([]);

    clock.t += 61_000; // alice's view of c2 expired
    expect([...(await v.viewers('t1', 'c2'))]).toEqual([]);
  });
});
