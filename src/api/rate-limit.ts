// The HTTP API's rate limits, over the limiter port (src/limits): in process
// on the embedded node, shared through Redis across the cluster when
// REDIS_URL is set. Checked before anything is written: a request over the
// limit gets 429 RATE_LIMITED + Retry-After and changes nothing.
import type { RateLimit } from '../config.ts';
import { memoryLimiters } from '../limits/memory.ts';
import type { Limiter, Verdict } from '../limits/port.ts';
import { HeraldError } from '../protocol/index.ts';

function enforce(v: Verdict): void {
  if (!v.ok) throw new HeraldError('RATE_LIMITED', undefined, { retryAfter: v.retryAfterSec });
}

/**
 * The per-user send limit: one per host, shared by POST …/messages and the gateway's
 * `send` frames, so neither path (nor opening more sockets, nor another node) adds to a
 * user's budget.
 */
export class SendLimiter {
  /** Sends per second on average, and at most `burst` in one window (the gateway's `welcome.limits`). */
  readonly rate: { perSec: number; burst: number };

  constructor(
    private readonly limiter: Limiter,
    limit: RateLimit,
  ) {
    this.rate = { perSec: limit.max / limit.windowSec, burst: limit.max };
  }

  /** An in-process limiter (the embedded node, tests of one node). */
  static inProcess(limit: RateLimit, now?: () => number): SendLimiter {
    return new SendLimiter(memoryLimiters(now).window('send', limit), limit);
  }

  /** Counts one send of the user; throws RATE_LIMITED (with retryAfter) when the window is full. */
  async take(tenant: string, user: string): Promise<void> {
    enforce(await this.limiter.take(`${tenant}:${user}`));
  }
}

/** Calls per API key (token exchange, notices). */
export class ApiKeyLimiter {
  constructor(private readonly limiter: Limiter) {}

  static inProcess(limit: RateLimit, now?: () => number): ApiKeyLimiter {
    return new ApiKeyLimiter(memoryLimiters(now).window('api_key', limit));
  }

  async take(tenant: string, keyId: string): Promise<void> {
    enforce(await this.limiter.take(`${tenant}:${keyId}`));
  }
}
