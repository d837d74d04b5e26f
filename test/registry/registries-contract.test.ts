// Presence, connection registry and typing: one contract, both adapters.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryConnections } from '../../src/registry/memory-connections.ts';
import { memoryPresence } from '../../src/registry/memory-presence.ts';
import { memoryTyping } from '../../src/registry/memory-typing.ts';
import type { ConnectionRegistry, PresenceStore, TypingStore } from '../../src/registry/ports.ts';
import { redisConnections } from '../../src/registry/redis-connections.ts';
import { redisPresence } from '../../src/registry/redis-presence.ts';
import { redisTyping } from '../../src/registry/redis-typing.ts';
import { REDIS_URL, redisAvailable, testPrefix } from '../support/redis.ts';

interface Set3 {
  presence: PresenceStore;
  connections: ConnectionRegistry;
  typing: TypingStore;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const adapters: [string, () => Set3][] = [
  [
    'memory',
    () => ({
      presence: memoryPresence(90_000),
      connections: memoryConnections(),
      typing: memoryTyping(3_000),
    }),
  ],
];
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
      return {
        presence: redisPresence(redis, { prefix: p.prefix, windowMs: 90_000 }),
        connections: redisConnections(redis, { prefix: p.prefix }),
        typing: redisTyping(redis, { prefix: p.prefix, ttlMs: 3_000 }),
      };
    },
  ]);
}

describe.each(adapters)('registries (%s)', (_name, make) => {
  it('presence: heartbeats announce changes only, list within the window, age out by score', async () => {
    const { presence } = make();
    const t0 = 10_000_000;
    expect((await presence.heartbeat('t1', 'alice', 'd1', 'active', null, t0)).changed).toBe(true);
    expect((await presence.heartbeat('t1', 'alice', 'd1', 'active', null, t0 + 30_000)).changed).toBe(false);
    expect((await presence.heartbeat('t1', 'alice', 'd1', 'viewing', 'c1', t0 + 31_000)).changed).toBe(true);
    await presence.heartbeat('t1', 'bob', 'd9', 'idle', null, t0 + 1_000);
    await presence.heartbeat('t2', 'alice', 'd1', 'active', null, t0); // another tenant

    const now = t0 + 60_000;
    const listed = await presence.list('t1', ['alice', 'bob', 'nobody'], now);
    expect(listed.map((e) => [e.user_id, e.device_id, e.status, e.resource]).sort()).toEqual([
      ['alice', 'd1', 'viewing', 'c1'],
      ['bob', 'd9', 'idle', null],
    ]);

    // 90 s after bob's last heartbeat he is gone; alice heartbeated later and stays.
    const later = t0 + 1_000 + 90_000;
    expect((await presence.list('t1', ['bob'], later)).length).toBe(0);
    expect(await presence.ageOut('t1', later)).toEqual([{ user_id: 'bob', device_id: 'd9' }]);
    expect(await presence.ageOut('t1', later)).toEqual([]);
    expect((await presence.list('t1', ['alice'], later)).length).toBe(1);
    // A device that comes back after aging out is a change again.
    expect((await presence.heartbeat('t1', 'bob', 'd9', 'idle', null, later + 1)).changed).toBe(true);
    await presence.remove('t1', 'alice', 'd1');
    expect((await presence.list('t1', ['alice'], later)).length).toBe(0);
    expect((await presence.list('t2', ['alice'], t0 + 1)).length).toBe(1);
  });

  it('connections: registered with a TTL, refreshed while alive, expire when a node dies', async () => {
    const { connections } = make();
    const t0 = 5_000_000;
    await connections.register(
      't1',
      { user_id: 'alice', device_id: 'd1', connection_id: 'c-a', node_id: 'n1' },
      30_000,
      t0,
    );
    await connections.register(
      't1',
      { user_id: 'alice', device_id: 'd2', connection_id: 'c-b', node_id: 'n2' },
      30_000,
      t0,
    );
    expect((await connections.ofUser('t1', 'alice', t0 + 1)).map((c) => c.node_id).sort()).toEqual([
      'n1',
      'n2',
    ]);
    await connections.refresh('t1', ['c-a'], 30_000, t0 + 20_000); // n1 alive, n2 died
    const after = await connections.ofUser('t1', 'alice', t0 + 40_000);
    expect(after.map((c) => c.connection_id)).toEqual(['c-a']);
    await connections.unregister('t1', 'c-a');
    expect(await connections.ofUser('t1', 'alice', t0 + 40_000)).toEqual([]);
    expect(await connections.ofUser('t2', 'alice', t0)).toEqual([]);
  });

  it('typing: lasts its TTL, fresh only when newly typing', async () => {
    const { typing } = make();
    const t0 = 1_000_000;
    expect((await typing.set('t1', 'c1', 'alice', t0)).fresh).toBe(true);
    expect((await typing.set('t1', 'c1', 'alice', t0 + 1_000)).fresh).toBe(false);
    expect(await typing.list('t1', 'c1', t0 + 3_500)).toEqual(['alice']);
    expect(await typing.list('t1', 'c1', t0 + 4_001)).toEqual([]);
    expect((await typing.set('t1', 'c1', 'alice', t0 + 5_000)).fresh).toBe(true);
    expect(await typing.list('t2', 'c1', t0 + 5_001)).toEqual([]);
  });
});
