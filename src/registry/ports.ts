// Ports for the ephemeral, per-tenant state the gateway keeps outside the
// store: presence, which node holds which user's sockets, and typing. Each
// has an in-process adapter (memory-*.ts) for the embedded node; a Redis
// adapter implements the same interface with one sorted set per tenant
// (score = last heartbeat or expiry in ms), so stale entries age out by
// score with ZRANGEBYSCORE/ZREMRANGEBYSCORE and no sweeper process.
//
// Every method takes `nowMs` from the caller: time is injected, so tests
// drive age-out with a fake clock and every node scores with one rule.
import type { PresenceEntry, PresenceStatus } from '../protocol/frames.ts';

export type { PresenceEntry, PresenceStatus };

export interface DeviceRef {
  user_id: string;
  device_id: string;
}

/** Devices heartbeat; a device is present while its score is within `windowMs` of now. */
export interface PresenceStore {
  readonly windowMs: number;
  /**
   * Records a heartbeat (score = nowMs). `changed` is true when the device was
   * absent (or aged) before or its status/resource differ: only changes are announced.
   */
  heartbeat(
    tenant: string,
    user: string,
    device: string,
    status: PresenceStatus,
    resource: string | null,
    nowMs: number,
  ): Promise<{ changed: boolean }>;
  /** Present devices of the given users (score within the window). */
  list(tenant: string, users: readonly string[], nowMs: number): Promise<PresenceEntry[]>;
  /** Removes devices whose score fell out of the window; returns them (to announce them offline). */
  ageOut(tenant: string, nowMs: number): Promise<DeviceRef[]>;
  /** Explicit removal (a client that says goodbye); disconnects alone do not call it. */
  remove(tenant: string, user: string, device: string): Promise<void>;
}

export interface ConnectionEntry {
  user_id: string;
  device_id: string;
  connection_id: string;
  node_id: string;
  expires_ms: number;
}

/**
 * Which node holds which user's sockets. Entries carry a TTL refreshed by the
 * gateway while the socket lives, so a crashed node's entries expire by
 * themselves. Redis: a sorted set per tenant scored by expiry.
 */
export interface ConnectionRegistry {
  register(
    tenant: string,
    entry: Omit<ConnectionEntry, 'expires_ms'>,
    ttlMs: number,
    nowMs: number,
  ): Promise<void>;
  /** Extends the TTL of live connections of a node. */
  refresh(tenant: string, connectionIds: readonly string[], ttlMs: number, nowMs: number): Promise<void>;
  unregister(tenant: string, connectionId: string): Promise<void>;
  /** Live connections of a user (any node). */
  ofUser(tenant: string, user: string, nowMs: number): Promise<ConnectionEntry[]>;
}

/** Who is typing where; entries last `ttlMs` (≈ 3 s) and never touch PostgreSQL. */
export interface TypingStore {
  readonly ttlMs: number;
  /** Marks the user typing; `fresh` is false when they were already typing (no new announcement needed). */
  set(tenant: string, conversation: string, user: string, nowMs: number): Promise<{ fresh: boolean }>;
  list(tenant: string, conversation: string, nowMs: number): Promise<string[]>;
}
