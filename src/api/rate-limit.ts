// Fixed-window rate limiters, in process. Checked before anything is
// written: a request over the limit gets 429 RATE_LIMITED + Retry-After and
// changes nothing. Per node: with N nodes a key may get up to N× the limit.
import type { RateLimit } from '../config.ts';
import { HeraldError } from '../protocol/index.ts';

export class WindowLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one call for `key`; throws RATE_LIMITED when the window is full. */
  take(key: string): void {
    const t = this.now();
    const span = this.limit.windowSec * 1000;
    let w = this.windows.get(key);
    if (!w || t - w.start >= span) {
      if (this.windows.size > 100_000) this.prune(t, span);
      w = { start: t, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.limit.max) {
      throw new HeraldError('RATE_LIMITED', undefined, {
        retryAfter: Math.ceil((w.start + span - t) / 1000),
      });
    }
    w.count++;
  }

  private prune(t: number, span: number): void {
    for (const [k, w] of this.windows) if (t - w.start >= span) this.windows.delete(k);
  }
}

/**
 * The per-user send limit: one per host, shared by POST …/messages and the gateway's
 * `send` frames, so neither path (nor opening more sockets) adds to a user's budget.
 */
export class SendLimiter {
  private readonly window: WindowLimiter;

  /** Sends per second on average, and at most `burst` in one window (the gateway's `welcome.limits`). */
  readonly rate: { perSec: number; burst: number };

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.window = new WindowLimiter(limit, now);
    this.rate = { perSec: limit.max / limit.windowSec, burst: limit.max };
  }

  /** Counts one send of the user; throws RATE_LIMITED (with retryAfter) when the window is full. */
  take(tenant: string, user: string): void {
    this.window.take(`${tenant}\0${user}`);
  }
}
