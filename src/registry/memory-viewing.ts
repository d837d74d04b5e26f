import type { ViewingRegistry } from '../domain/ports.ts';

/** In-process viewing registry: who looks at which conversation, expiring after ttlMs. */
export function memoryViewing(ttlMs = 60_000, now: () => number = Date.now): ViewingRegistry {
  // Indexed by conversation so a compose reads only that room's viewers.
  const rooms = new Map<string, Map<string, { user: string; expires: number }>>();
  const deviceRoom = new Map<string, string>();
  return {
    async set(tenant, user, device, conversation) {
      const dev = `${tenant}\0${user}\0${device}`;
      const prev = deviceRoom.get(dev);
      if (prev) {
        rooms.get(prev)?.delete(dev);
        if (rooms.get(prev)?.size === 0) rooms.delete(prev);
        deviceRoom.delete(dev);
      }
      if (conversation === null) return;
      const room = `${tenant}\0${conversation}`;
      let viewers = rooms.get(room);
      if (!viewers) {
        viewers = new Map();
        rooms.set(room, viewers);
      }
      viewers.set(dev, { user, expires: now() + ttlMs });
      deviceRoom.set(dev, room);
    },
    async viewers(tenant, conversation, candidates) {
      const out = new Set<string>();
      const viewers = rooms.get(`${tenant}\0${conversation}`);
      if (!viewers) return out;
      const t = now();
      const pool = candidates ? new Set(candidates) : null;
      for (const [dev, v] of viewers) {
        if (v.expires <= t) {
          viewers.delete(dev);
          deviceRoom.delete(dev);
        } else if (!pool || pool.has(v.user)) out.add(v.user);
      }
      return out;
    },
  };
}
