// The same contract for every bus adapter: in-process and Redis.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryBus } from '../../src/bus/memory.ts';
import type { Bus } from '../../src/bus/port.ts';
import { redisBus } from '../../src/bus/redis.ts';
import { REDIS_URL, redisAvailable, ThrowawayRedis, testPrefix, waitFor } from '../support/redis.ts';

const adapters: [string, () => Promise<{ bus: Bus; done(): Promise<void> }>][] = [
  ['memory', async () => ({ bus: memoryBus(), done: async () => {} })],
];
if (redisAvailable()) {
  adapters.push([
    'redis',
    async () => {
      const p = testPrefix();
      const bus = redisBus({ url: REDIS_URL, prefix: p.prefix });
      await waitFor(() => bus.healthy(), 5000, 'redis ready');
      return {
        bus,
        done: async () => {
          await bus.close();
          await p.cleanup();
        },
      };
    },
  ]);
}

describe.each(adapters)('bus contract (%s)', (_name, make) => {
  it('delivers in order to every handler of a topic, and only that topic', async () => {
    const { bus, done } = await make();
    const a: string[] = [];
    const b: string[] = [];
    const other: string[] = [];
    await bus.subscribe('t:x:c:1', (p) => a.push(p));
    const offB = await bus.subscribe('t:x:c:1', (p) => b.push(p));
    await bus.subscribe('t:x:c:2', (p) => other.push(p));
    for (let i = 1; i <= 50; i++) await bus.publish('t:x:c:1', String(i));
    await waitFor(() => a.length === 50 && b.length === 50, 5000, 'delivery');
    expect(a).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    expect(b).toEqual(a);
    expect(other).toEqual([]);
    await offB();
    await bus.publish('t:x:c:1', 'after');
    await waitFor(() => a.length === 51, 5000, 'delivery after unsubscribe');
    expect(b.length).toBe(50);
    await done();
  });

  it('publishMany delivers a batch in order per topic and reports each message as published', async () => {
    const { bus, done } = await make();
    const a: string[] = [];
    const b: string[] = [];
    await bus.subscribe('t:x:c:m1', (p) => a.push(p));
    await bus.subscribe('t:x:c:m2', (p) => b.push(p));
    const batch = Array.from({ length: 200 }, (_, i) => ({
      topic: i % 3 === 0 ? 't:x:c:m2' : 't:x:c:m1',
      payload: String(i),
    }));
    expect(await bus.publishMany(batch)).toEqual(batch.map(() => null));
    await waitFor(() => a.length + b.length === 200, 5000, 'batch delivery');
    expect(a).toEqual(batch.filter((m) => m.topic === 't:x:c:m1').map((m) => m.payload));
    expect(b).toEqual(batch.filter((m) => m.topic === 't:x:c:m2').map((m) => m.payload));
    expect(await bus.publishMany([])).toEqual([]);
    await done();
  });

  it('publishMany keeps a large batch in order (the Redis bus sends it in several script calls)', async () => {
    const { bus, done } = await make();
    const got: string[] = [];
    await bus.subscribe('t:x:c:big', (p) => got.push(p));
    // 1,001 frames: a 1,000-member group send's event and inbox frames, over several chunks.
    const batch = Array.from({ length: 1001 }, (_, i) => ({
      topic: i % 2 === 0 ? 't:x:c:big' : `t:x:u:${i}`,
      payload: String(i),
    }));
    expect(await bus.publishMany(batch)).toEqual(batch.map(() => null));
    await waitFor(() => got.length === 501, 5000, 'large batch delivery');
    expect(got).toEqual(batch.filter((m) => m.topic === 't:x:c:big').map((m) => m.payload));
    await done();
  });

  it('keeps delivering to other handlers when one throws', async () => {
    const { bus, done } = await make();
    const got: string[] = [];
    await bus.subscribe('t:x:c:3', () => {
      throw new Error('boom');
    });
    await bus.subscribe('t:x:c:3', (p) => got.push(p));
    await bus.publish('t:x:c:3', 'one');
    await waitFor(() => got.length === 1, 5000, 'delivery');
    await done();
  });
});

describe.runIf(redisAvailable())('redis bus across a Redis restart', () => {
  let server: ThrowawayRedis | null = null;
  afterAll(async () => server?.stop());

  it('resubscribes by itself, tells subscribers to resync, and fails publishes while down', async () => {
    server = await ThrowawayRedis.start();
    const bus = redisBus({ url: server.url });
    await waitFor(() => bus.healthy(), 5000, 'ready');
    const got: string[] = [];
    let resyncs = 0;
    bus.onResync(() => resyncs++);
    await bus.subscribe('t:x:c:9', (p) => got.push(p));
    await bus.publish('t:x:c:9', 'before');
    await waitFor(() => got.length === 1, 5000, 'first delivery');

    await server.down();
    await waitFor(() => !bus.healthy(), 5000, 'unhealthy');
    await expect(bus.publish('t:x:c:9', 'lost')).rejects.toThrow();
    // A batch while down is refused as a whole (the relay keeps its rows), never queued.
    const refused = await bus.publishMany([{ topic: 't:x:c:9', payload: 'lost too' }]).then(
      (r) => r.every((e) => e instanceof Error),
      () => true,
    );
    expect(refused).toBe(true);

    await server.up();
    await waitFor(() => bus.healthy() && resyncs === 1, 10_000, 'recovered');
    // Subscriptions came back without anyone calling subscribe again.
    await waitFor(
      async () => {
        await bus.publish('t:x:c:9', 'after');
        return got.includes('after');
      },
      10_000,
      'delivery after restart',
    );
    expect(got[0]).toBe('before');
    expect(got).not.toContain('lost');
    expect(got).not.toContain('lost too');
    await bus.close();
  });
});

describe.runIf(redisAvailable())('redis bus subscribe failures', () => {
  let server: ThrowawayRedis | null = null;
  afterAll(async () => server?.stop());

  it("subscribes a turn's topics in one command, and a topic left and rejoined within the linger costs none", async () => {
    server ??= await ThrowawayRedis.start();
    const bus = redisBus({ url: server.url, lingerMs: 300 });
    const admin = new Redis(server.url);
    const calls = async (cmd: string) => {
      const info = await admin.info('commandstats');
      return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
    };
    await waitFor(() => bus.healthy(), 5000, 'ready');
    const subscribes = await calls('subscribe');
    const got: string[] = [];
    const offs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => bus.subscribe(`t:x:u:${i}`, (p, t) => got.push(`${t}=${p}`))),
    );
    expect(await calls('subscribe')).toBe(subscribes + 1);

    // Every handler leaves, and comes back before the linger ends: no command, still delivered.
    for (const off of offs) await off();
    const back = await Promise.all(
      Array.from({ length: 50 }, (_, i) => bus.subscribe(`t:x:u:${i}`, (p, t) => got.push(`${t}=${p}`))),
    );
    expect(await calls('subscribe')).toBe(subscribes + 1);
    expect(await calls('unsubscribe')).toBe(0);
    await bus.publish('t:x:u:7', 'hi');
    await waitFor(() => got.includes('t:x:u:7=hi'), 5000, 'delivery after rejoining');

    // Left for longer than the linger: unsubscribed, together.
    for (const off of back) await off();
    await waitFor(async () => (await admin.pubsub('CHANNELS', 't:x:u:*')).length === 0, 5000, 'unsubscribed');
    expect(await calls('unsubscribe')).toBe(1);
    await bus.publish('t:x:u:7', 'late');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).not.toContain('t:x:u:7=late');
    admin.disconnect();
    await bus.close();
  });

  it('a SUBSCRIBE that failed while Redis was down is retried by the next subscriber, not silently lost', async () => {
    server ??= await ThrowawayRedis.start();
    const bus = redisBus({ url: server.url });
    await waitFor(() => bus.healthy(), 5000, 'ready');
    await server.down();
    await waitFor(() => !bus.healthy(), 5000, 'unhealthy');
    await expect(bus.subscribe('t:x:c:late', () => {})).rejects.toThrow();

    await server.up();
    await waitFor(() => bus.healthy(), 10_000, 'recovered');
    const got: string[] = [];
    await bus.subscribe('t:x:c:late', (p) => got.push(p));
    await waitFor(
      async () => {
        await bus.publish('t:x:c:late', 'hello');
        return got.length > 0;
      },
      10_000,
      'delivery on the retried subscription',
    );
    await bus.close();
  });
});
