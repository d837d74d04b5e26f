import type { TypingStore } from './ports.ts';

/** In-process typing state: user → expiry per conversation. Never touches PostgreSQL. */
export function memoryTyping(ttlMs = 3_000): TypingStore {
  const rooms = new Map<string, Map<string, number>>();
  return {
    ttlMs,
    async set(tenant, conversation, user, nowMs) {
      const k = `${tenant}\0${conversation}`;
      let room = rooms.get(k);
      if (!room) {
        room = new Map();
        rooms.set(k, room);
      }
      const prev = room.get(user);
      room.set(user, nowMs + ttlMs);
      return { fresh: prev === undefined || prev <= nowMs };
    },
    async list(tenant, conversation, nowMs) {
      const k = `${tenant}\0${conversation}`;
      const room = rooms.get(k);
      if (!room) return [];
      const out: string[] = [];
      for (const [user, exp] of room) {
        if (exp <= nowMs) room.delete(user);
        else out.push(user);
      }
      if (room.size === 0) rooms.delete(k);
      return out;
    },
  };
}
