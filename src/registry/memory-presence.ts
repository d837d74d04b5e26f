import type { DeviceRef, PresenceEntry, PresenceStatus, PresenceStore } from './ports.ts';

/**
 * In-process presence: per tenant, a map of devices scored by last heartbeat —
 * the same shape as the Redis sorted set, aged out by score on read or by ageOut.
 */
export function memoryPresence(windowMs = 90_000): PresenceStore {
  const tenants = new Map<string, Map<string, PresenceEntry>>();
  const key = (user: string, device: string) => `${user}\0${device}`;
  const live = (e: PresenceEntry, nowMs: number) => e.last_seen_ms > nowMs - windowMs;
  return {
    windowMs,
    async heartbeat(tenant, user, device, status: PresenceStatus, resource, nowMs) {
      let devices = tenants.get(tenant);
      if (!devices) {
        devices = new Map();
        tenants.set(tenant, devices);
      }
      const k = key(user, device);
      const prev = devices.get(k);
      const changed = !prev || !live(prev, nowMs) || prev.status !== status || prev.resource !== resource;
      devices.set(k, { user_id: user, device_id: device, status, resource, last_seen_ms: nowMs });
      return { changed };
    },
    async list(tenant, users, nowMs) {
      const devices = tenants.get(tenant);
      if (!devices) return [];
      const wanted = new Set(users);
      const out: PresenceEntry[] = [];
      for (const e of devices.values()) if (wanted.has(e.user_id) && live(e, nowMs)) out.push({ ...e });
      return out;
    },
    async ageOut(tenant, nowMs) {
      const devices = tenants.get(tenant);
      if (!devices) return [];
      const gone: DeviceRef[] = [];
      for (const [k, e] of devices) {
        if (!live(e, nowMs)) {
          devices.delete(k);
          gone.push({ user_id: e.user_id, device_id: e.device_id });
        }
      }
      if (devices.size === 0) tenants.delete(tenant);
      return gone;
    },
    async remove(tenant, user, device) {
      tenants.get(tenant)?.delete(key(user, device));
    },
  };
}
