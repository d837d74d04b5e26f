// Typing is ephemeral and best effort (DESIGN §7, §8): outgoing frames are
// throttled per conversation, incoming indicators expire on their own after
// a TTL unless refreshed, and a message from the typist clears theirs.
import type { Timers } from './timers.ts';

export class TypingTracker {
  private readonly lastSent = new Map<string, number>();
  /** conversation → user → expiry timer */
  private readonly active = new Map<string, Map<string, unknown>>();

  constructor(
    private readonly timers: Timers,
    private readonly throttleMs: number,
    private readonly ttlMs: number,
    private readonly changed: (conversation: string, users: string[]) => void,
  ) {}

  /** Whether a `typing` frame may go out now for this conversation (and records it). */
  shouldSend(conversation: string): boolean {
    const now = this.timers.now();
    const last = this.lastSent.get(conversation);
    if (last !== undefined && now - last < this.throttleMs) return false;
    this.lastSent.set(conversation, now);
    return true;
  }

  /** Stops throttling a conversation (e.g. after the user sent their message). */
  resetThrottle(conversation: string): void {
    this.lastSent.delete(conversation);
  }

  /** An incoming `typing`; the server's ttl_ms wins over the default TTL when present. */
  incoming(conversation: string, user: string, ttlMs?: number): void {
    let users = this.active.get(conversation);
    if (!users) {
      users = new Map();
      this.active.set(conversation, users);
    }
    const existing = users.get(user);
    if (existing !== undefined) this.timers.clearTimeout(existing);
    users.set(
      user,
      this.timers.setTimeout(() => this.clear(conversation, user), ttlMs && ttlMs > 0 ? ttlMs : this.ttlMs),
    );
    if (existing === undefined) this.changed(conversation, this.users(conversation));
  }

  clear(conversation: string, user: string): void {
    const users = this.active.get(conversation);
    const timer = users?.get(user);
    if (!users || timer === undefined) return;
    this.timers.clearTimeout(timer);
    users.delete(user);
    if (users.size === 0) this.active.delete(conversation);
    this.changed(conversation, this.users(conversation));
  }

  users(conversation: string): string[] {
    return [...(this.active.get(conversation)?.keys() ?? [])].sort();
  }

  dispose(): void {
    for (const users of this.active.values()) for (const t of users.values()) this.timers.clearTimeout(t);
    this.active.clear();
  }
}
