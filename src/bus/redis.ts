// Redis pub/sub bus for many nodes. One subscriber connection per node and
// one SUBSCRIBE per topic however many local handlers share it (ref-counted).
// Publishing fails fast while disconnected so the outbox relay keeps the rows
// and retries, instead of queueing them in memory.
import { Redis, type RedisOptions } from 'ioredis';
import type { Bus, BusHandler } from './port.ts';

export interface RedisBusOptions {
  url: string;
  /** Prepended to every channel name (test isolation, shared Redis). */
  prefix?: string;
  onError?: (err: unknown) => void;
}

export function redisBus(opts: RedisBusOptions): Bus {
  const prefix = opts.prefix ?? '';
  const base: RedisOptions = {
    maxRetriesPerRequest: 1,
    // Capped exponential backoff on reconnect.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
  };
  const pub = new Redis(opts.url, { ...base, enableOfflineQueue: false });
  const sub = new Redis(opts.url, { ...base, autoResubscribe: true });
  const handlers = new Map<string, Set<BusHandler>>();
  // The SUBSCRIBE in flight per topic: later subscribers wait for the same one.
  const subscribing = new Map<string, Promise<unknown>>();
  const resync = new Set<() => void>();
  const onError = opts.onError ?? (() => {});
  pub.on('error', onError);
  sub.on('error', onError);

  let wasReady = false;
  let lostSinceReady = false;
  sub.on('ready', () => {
    if (wasReady && lostSinceReady) for (const l of [...resync]) l();
    wasReady = true;
    lostSinceReady = false;
  });
  sub.on('close', () => {
    if (wasReady) lostSinceReady = true;
  });

  sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
    const topic = channel.toString().slice(prefix.length);
    const set = handlers.get(topic);
    if (!set) return;
    const payload = message.toString();
    for (const h of [...set]) {
      try {
        h(payload, topic);
      } catch (err) {
        onError(err);
      }
    }
  });

  return {
    kind: 'redis',
    async publish(topic, payload) {
      await pub.publish(prefix + topic, payload);
    },
    async subscribe(topic, handler) {
      let set = handlers.get(topic);
      if (!set) {
        set = new Set();
        handlers.set(topic, set);
        const p = sub.subscribe(prefix + topic).finally(() => subscribing.delete(topic));
        subscribing.set(topic, p);
      }
      set.add(handler);
      await subscribing.get(topic);
      return async () => {
        set.delete(handler);
        if (set.size === 0 && handlers.get(topic) === set) {
          handlers.delete(topic);
          await sub.unsubscribe(prefix + topic).catch(onError);
        }
      };
    },
    onResync(listener) {
      resync.add(listener);
      return () => resync.delete(listener);
    },
    healthy() {
      return pub.status === 'ready' && sub.status === 'ready';
    },
    async close() {
      handlers.clear();
      resync.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
