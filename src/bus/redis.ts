// Redis pub/sub bus for many nodes. One subscriber connection per node and
// one subscription per topic however many local handlers share it (ref-counted).
// Publishing fails fast while disconnected so the outbox relay keeps the rows
// and retries, instead of queueing them in memory.
import { Redis, type RedisOptions, type Result } from 'ioredis';
import type { Bus, BusHandler } from './port.ts';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    heraldPublishMany(...topicsAndPayloads: string[]): Result<number, Context>;
  }
}

// A relay batch is published by a script that PUBLISHes its (topic, payload) pairs in order:
// one command and one reply per chunk instead of one per frame. A 1,000-member group send is
// 1,001 frames; as single PUBLISHes the relay's node spent ~3.6 ms of CPU building and parsing
// them, as one script call per chunk ~1.1 ms (scratch measurement, docs/benchmarks.md).
const PUBLISH_MANY = `for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return #ARGV / 2`;
/** Frames per script call: bounds how long one call holds Redis (~0.5 ms here). */
const PUBLISH_CHUNK = 256;

// Subscriptions churn in bursts: 10,000 clients reconnecting after a network blip leave and
// rejoin 10,000 personal topics within a second, and on this machine each command written to
// Redis is a socket write of tens of µs (docs/benchmarks.md, session 5). So the SUBSCRIBEs of
// one loop turn go out as one command, and a topic whose last local handler left stays
// subscribed for LINGER_MS — a handler that comes back meanwhile needs no command at all; the
// ones still idle then are unsubscribed together by one sweep.
const LINGER_MS = 5_000;
/** Channels per SUBSCRIBE / UNSUBSCRIBE command. */
const CHANNELS_PER_COMMAND = 1_000;

export interface RedisBusOptions {
  url: string;
  /** Prepended to every channel name (test isolation, shared Redis). */
  prefix?: string;
  onError?: (err: unknown) => void;
  /** How long a topic without local handlers stays subscribed (default LINGER_MS). */
  lingerMs?: number;
}

export function redisBus(opts: RedisBusOptions): Bus {
  const prefix = opts.prefix ?? '';
  const lingerMs = opts.lingerMs ?? LINGER_MS;
  const base: RedisOptions = {
    maxRetriesPerRequest: 1,
    // Capped exponential backoff on reconnect.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    lazyConnect: false,
  };
  const pub = new Redis(opts.url, { ...base, enableOfflineQueue: false });
  pub.defineCommand('heraldPublishMany', { numberOfKeys: 0, lua: PUBLISH_MANY });
  const sub = new Redis(opts.url, { ...base, autoResubscribe: true });
  // Per topic: its local handlers and the one SUBSCRIBE they all wait for. A failed
  // SUBSCRIBE removes the entry, so the next subscriber tries again instead of
  // joining a topic this node never listens to.
  const topics = new Map<string, { handlers: Set<BusHandler>; ready: Promise<unknown> }>();
  /** Topics without local handlers, still subscribed: when their last handler left. */
  const idle = new Map<string, number>();
  let sweeper: NodeJS.Timeout | null = null;
  let batch: { channels: string[]; sent: Promise<unknown> } | null = null;
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
    const set = topics.get(topic)?.handlers;
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

  /** SUBSCRIBE at the end of this loop turn, with the other channels of the turn. */
  const subscribeSoon = (channel: string): Promise<unknown> => {
    if (!batch) {
      const b = {
        channels: [] as string[],
        sent: new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
          if (batch === b) batch = null;
          const chunks: Promise<unknown>[] = [];
          for (let at = 0; at < b.channels.length; at += CHANNELS_PER_COMMAND)
            chunks.push(sub.subscribe(...b.channels.slice(at, at + CHANNELS_PER_COMMAND)));
          return Promise.all(chunks);
        }),
      };
      batch = b;
    }
    batch.channels.push(channel);
    return batch.sent;
  };

  const sweep = () => {
    const cutoff = Date.now() - lingerMs;
    const gone: string[] = [];
    for (const [topic, since] of idle) {
      if (since > cutoff) continue;
      idle.delete(topic);
      const e = topics.get(topic);
      if (e && e.handlers.size === 0) {
        topics.delete(topic);
        gone.push(prefix + topic);
      }
    }
    for (let at = 0; at < gone.length; at += CHANNELS_PER_COMMAND)
      sub.unsubscribe(...gone.slice(at, at + CHANNELS_PER_COMMAND)).catch(onError);
    if (idle.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = null;
    }
  };

  return {
    kind: 'redis',
    async publish(topic, payload) {
      await pub.publish(prefix + topic, payload);
    },
    async publishMany(messages) {
      if (messages.length === 0) return [];
      // One pipeline of script calls: one round trip for the batch, kept in order on one
      // connection, so a topic's frames leave in the order the relay read them. A chunk is
      // published whole or not at all: a refused call refuses each of its frames.
      const pipeline = pub.pipeline();
      for (let at = 0; at < messages.length; at += PUBLISH_CHUNK) {
        const args: string[] = [];
        for (const m of messages.slice(at, at + PUBLISH_CHUNK)) args.push(prefix + m.topic, m.payload);
        pipeline.heraldPublishMany(...args);
      }
      const results = (await pipeline.exec()) ?? [];
      return messages.map((_, i) => {
        const r = results[Math.floor(i / PUBLISH_CHUNK)];
        const err = r?.[0];
        return err ? (err instanceof Error ? err : new Error(String(err))) : r ? null : new Error('not sent');
      });
    },
    async subscribe(topic, handler) {
      let entry = topics.get(topic);
      if (!entry) {
        const e = { handlers: new Set<BusHandler>(), ready: subscribeSoon(prefix + topic) };
        e.ready.catch(() => {
          if (topics.get(topic) === e) topics.delete(topic);
        });
        topics.set(topic, e);
        entry = e;
      }
      const e = entry;
      e.handlers.add(handler);
      idle.delete(topic);
      try {
        await e.ready;
      } catch (err) {
        e.handlers.delete(handler);
        throw err;
      }
      return async () => {
        e.handlers.delete(handler);
        if (e.handlers.size === 0 && topics.get(topic) === e) {
          // Left subscribed for LINGER_MS; the sweep unsubscribes it unless a handler is back.
          idle.set(topic, Date.now());
          if (!sweeper) {
            sweeper = setInterval(sweep, Math.max(10, lingerMs / 5));
            sweeper.unref();
          }
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
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      idle.clear();
      topics.clear();
      resync.clear();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}
