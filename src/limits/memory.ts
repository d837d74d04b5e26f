// In-process limits for the embedded single node (and the fallback of the
// Redis adapters while Redis is unreachable).
import { KeyedLimiter } from '../gateway/rate-limit.ts';
import type { BucketSpec, Limiter, LimiterPort, SocketSlots, Verdict, WindowSpec } from './port.ts';

/** Fixed windows per key; full windows are pruned when the map grows. */
export class WindowLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly spec: WindowSpec,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): Verdict {
    const t = this.now();
    const span = this.spec.windowSec * 1000;
    let w = this.windows.get(key);
    if (!w || t - w.start >= span) {
      if (this.windows.size > 100_000) this.prune(t, span);
      w = { start: t, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.spec.max) {
      return { ok: false, retryAfterSec: Math.max(1, Math.ceil((w.start + span - t) / 1000)) };
    }
    w.count++;
    return { ok: true };
  }

  private prune(t: number, span: number): void {
    for (const [k, w] of this.windows) if (t - w.start >= span) this.windows.delete(k);
  }
}

function bucketLimiter(spec: BucketSpec, now: () => number): Limiter {
  const keyed = new KeyedLimiter(spec);
  return {
    async take(key) {
      if (keyed.take(key, now())) return { ok: true };
      return { ok: false, retryAfterSec: Math.max(1, Math.ceil(1 / spec.perSec)) };
    },
  };
}

export function memoryLimiters(now: () => number = Date.now): LimiterPort {
  return {
    window(_name, spec) {
      const w = new WindowLimiter(spec, now);
      return { take: async (key) => w.take(key) };
    },
    bucket: (_name, spec) => bucketLimiter(spec, now),
  };
}

/**
 * Slots in maps, expiring like the Redis sorted sets. Expired slots are only looked for
 * when a cap is reached, so an acquire under the caps is O(1).
 */
export function memorySlots(): SocketSlots {
  type Tenant = { all: Map<string, { user: string; expires: number }>; users: Map<string, Set<string>> };
  const tenants = new Map<string, Tenant>();
  const drop = (t: Tenant, id: string) => {
    const s = t.all.get(id);
    if (!s) return;
    t.all.delete(id);
    const mine = t.users.get(s.user);
    mine?.delete(id);
    if (mine?.size === 0) t.users.delete(s.user);
  };
  const pruneIds = (t: Tenant, ids: Iterable<string>, nowMs: number) => {
    for (const id of [...ids]) if ((t.all.get(id)?.expires ?? 0) <= nowMs) drop(t, id);
  };
  return {
    async acquire(tenant, user, id, caps, ttlMs, nowMs) {
      let t = tenants.get(tenant);
      if (!t) {
        t = { all: new Map(), users: new Map() };
        tenants.set(tenant, t);
      }
      if (caps.perTenant > 0 && t.all.size >= caps.perTenant) {
        pruneIds(t, t.all.keys(), nowMs);
        if (t.all.size >= caps.perTenant) return { ok: false, over: 'tenant' };
      }
      let mine = t.users.get(user);
      if (caps.perUser > 0 && mine && mine.size >= caps.perUser) {
        pruneIds(t, mine, nowMs);
        mine = t.users.get(user);
        if (mine && mine.size >= caps.perUser) return { ok: false, over: 'user' };
      }
      if (!mine) {
        mine = new Set();
        t.users.set(user, mine);
      }
      mine.add(id);
      t.all.set(id, { user, expires: nowMs + ttlMs });
      return { ok: true };
    },
    async refresh(tenant, held, ttlMs, nowMs) {
      const t = tenants.get(tenant);
      for (const h of held) {
        const s = t?.all.get(h.id);
        if (s) s.expires = nowMs + ttlMs;
      }
    },
    async release(tenant, _user, id) {
      const t = tenants.get(tenant);
      if (!t) return;
      drop(t, id);
      if (t.all.size === 0) tenants.delete(tenant);
    },
  };
}
