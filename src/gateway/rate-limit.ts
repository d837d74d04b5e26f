// Token buckets keyed by a string (IP, tenant+user, socket). Time comes from
// the caller's clock so tests can drive refill deterministically.

export interface RateSpec {
  /** Tokens added per second. */
  perSec: number;
  /** Bucket size: the burst allowed after a quiet period. */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly spec: RateSpec,
    nowMs: number,
  ) {
    this.tokens = spec.burst;
    this.at = nowMs;
  }

  take(nowMs: number, n = 1): boolean {
    const elapsed = Math.max(0, nowMs - this.at) / 1000;
    this.tokens = Math.min(this.spec.burst, this.tokens + elapsed * this.spec.perSec);
    this.at = nowMs;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Full again: the bucket can be forgotten. */
  full(nowMs: number): boolean {
    return this.tokens + (Math.max(0, nowMs - this.at) / 1000) * this.spec.perSec >= this.spec.burst;
  }
}

/** Many buckets; full ones are swept so the map stays bounded by active keys. */
export class KeyedLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep = 0;

  constructor(private readonly spec: RateSpec) {}

  take(key: string, nowMs: number): boolean {
    if (nowMs - this.lastSweep > 10_000) this.sweep(nowMs);
    let b = this.buckets.get(key);
    if (!b) {
      b = new TokenBucket(this.spec, nowMs);
      this.buckets.set(key, b);
    }
    return b.take(nowMs);
  }

  private sweep(nowMs: number): void {
    this.lastSweep = nowMs;
    for (const [k, b] of this.buckets) if (b.full(nowMs)) this.buckets.delete(k);
  }
}
