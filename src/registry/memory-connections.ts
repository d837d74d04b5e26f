import type { ConnectionEntry, ConnectionRegistry } from './ports.ts';

/** In-process connection registry: entries expire by their TTL score, like the Redis sorted set. */
export function memoryConnections(): ConnectionRegistry {
  const tenants = new Map<string, Map<string, ConnectionEntry>>();
  return {
    async register(tenant, entry, ttlMs, nowMs) {
      let conns = tenants.get(tenant);
      if (!conns) {
        conns = new Map();
        tenants.set(tenant, conns);
      }
      conns.set(entry.connection_id, { ...entry, expires_ms: nowMs + ttlMs });
    },
    async refresh(tenant, ids, ttlMs, nowMs) {
      const conns = tenants.get(tenant);
      if (!conns) return;
      for (const id of ids) {
        const e = conns.get(id);
        if (e) e.expires_ms = nowMs + ttlMs;
      }
    },
    async unregister(tenant, id) {
      const conns = tenants.get(tenant);
      conns?.delete(id);
      if (conns?.size === 0) tenants.delete(tenant);
    },
    async ofUser(tenant, user, nowMs) {
      const conns = tenants.get(tenant);
      if (!conns) return [];
      const out: ConnectionEntry[] = [];
      for (const [id, e] of conns) {
        if (e.expires_ms <= nowMs) conns.delete(id);
        else if (e.user_id === user) out.push({ ...e });
      }
      return out;
    },
  };
}
