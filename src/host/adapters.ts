// Infrastructure adapters chosen by configuration: in-process for the
// embedded single node, Redis when REDIS_URL is set. The rest of Herald sees
// only the ports.
import { Redis } from 'ioredis';
import { memoryBus } from '../bus/memory.ts';
import type { Bus } from '../bus/port.ts';
import { redisBus } from '../bus/redis.ts';
import type { ViewingRegistry } from '../domain/ports.ts';
import { memoryLimiters, memorySlots } from '../limits/memory.ts';
import type { LimiterPort, SocketSlots } from '../limits/port.ts';
import { redisLimiters, redisSlots } from '../limits/redis.ts';
import { memoryConnections } from '../registry/memory-connections.ts';
import { memoryPresence } from '../registry/memory-presence.ts';
import { memoryTyping } from '../registry/memory-typing.ts';
import { memoryViewing } from '../registry/memory-viewing.ts';
import type { ConnectionRegistry, PresenceStore, TypingStore } from '../registry/ports.ts';
import { redisConnections } from '../registry/redis-connections.ts';
import { redisPresence } from '../registry/redis-presence.ts';
import { redisTyping } from '../registry/redis-typing.ts';
import { redisViewing } from '../registry/redis-viewing.ts';

export interface Adapters {
  bus: Bus;
  viewing: ViewingRegistry;
  presence: PresenceStore;
  connections: ConnectionRegistry;
  typing: TypingStore;
  /** Rate limits (sends, API keys, handshakes): cluster-wide on Redis. */
  limiters: LimiterPort;
  /** Slots of the per-user and per-tenant socket caps: cluster-wide on Redis. */
  socketSlots: SocketSlots;
  /** Whether the shared infrastructure answers (readiness). */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface AdapterOptions {
  redisUrl: string | null;
  /** Prepended to every Redis key and channel (shared Redis, tests). */
  redisPrefix?: string;
  /** Presence window (ms): a device is present while its heartbeat is this recent. */
  presenceWindowMs?: number;
  onError?: (err: unknown) => void;
  /**
   * A limit check Redis could not answer: the node's in-process limiter decided instead
   * (fail open to per-node limits). Counted by herald_limits_fallback_total.
   */
  onLimiterFallback?: (what: string, err: unknown) => void;
}

export function createAdapters(opts: AdapterOptions): Adapters {
  if (!opts.redisUrl) {
    const bus = memoryBus();
    return {
      bus,
      viewing: memoryViewing(),
      presence: memoryPresence(opts.presenceWindowMs),
      connections: memoryConnections(),
      typing: memoryTyping(),
      limiters: memoryLimiters(),
      socketSlots: memorySlots(),
      healthy: () => true,
      close: () => bus.close(),
    };
  }
  const prefix = opts.redisPrefix ?? '';
  const onError = opts.onError ?? (() => {});
  const redis = new Redis(opts.redisUrl, {
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    // Every send asks this client twice (its rate limit, the viewing registry): the commands
    // that concurrent requests issue in one event-loop turn leave in one write, and while a
    // batch is in flight the next one gathers — a socket write per turn, not per command.
    enableAutoPipelining: true,
  });
  redis.on('error', onError);
  const bus = redisBus({ url: opts.redisUrl, prefix, onError });
  return {
    bus,
    viewing: bestEffort(redisViewing(redis, { prefix }), onError, () => redis.status === 'ready'),
    presence: redisPresence(redis, { prefix, windowMs: opts.presenceWindowMs }),
    connections: redisConnections(redis, { prefix }),
    typing: redisTyping(redis, { prefix }),
    limiters: redisLimiters(redis, { prefix, onFallback: opts.onLimiterFallback }),
    socketSlots: redisSlots(redis, { prefix, onFallback: opts.onLimiterFallback }),
    healthy: () => bus.healthy() && redis.status === 'ready',
    async close() {
      await bus.close();
      await redis.quit().catch(() => {});
    },
  };
}

/** How long a send waits for the viewing hint before committing without it. */
const VIEWING_WAIT_MS = 250;

/**
 * Viewing is an ephemeral hint: when Redis is unreachable a send must still
 * commit, only without "arrives read" — at once, not after the client's
 * reconnect retries (a send used to wait ~6 s for them). Errors are reported, never thrown.
 */
function bestEffort(
  v: ViewingRegistry,
  onError: (err: unknown) => void,
  ready: () => boolean,
): ViewingRegistry {
  return {
    async set(tenant, user, device, conversation) {
      if (!ready()) return;
      await v.set(tenant, user, device, conversation).catch(onError);
    },
    async viewers(tenant, conversation, candidates) {
      if (!ready()) return new Set();
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          v.viewers(tenant, conversation, candidates),
          new Promise<Set<string>>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error('viewing registry did not answer in time')),
              VIEWING_WAIT_MS,
            );
          }),
        ]);
      } catch (err) {
        onError(err);
        return new Set();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
