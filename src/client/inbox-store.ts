// The conversation list: one InboxEntry per conversation, merged from
// `inbox` frames and GET /v1/inbox?since=<cursor> pages (synced-store.ts has
// the version and cursor rules). An entry with `removed: true` (the user left
// or was removed) is a tombstone: it takes the conversation out of the list,
// and only a later entry with a higher version brings it back. An `inbox_hint` (a large
// channel moved on; no row was written for this user) raises an entry in place, version kept.
import type { ServerFrame } from '../protocol/frames.ts';
import type { InboxEntry } from '../protocol/model.ts';
import type { InboxPage } from './http.ts';
import { type Merged, SyncedStore } from './synced-store.ts';

export interface InboxEvents {
  /** Entries that changed, after the change. */
  change: { entries: InboxEntry[] };
}

export class InboxStore extends SyncedStore<InboxEntry, InboxEvents> {
  /** Versions of tombstones, by conversation: older entries arriving late must not resurrect it. */
  private readonly removedAt = new Map<string, number>();

  get(conversation: string): InboxEntry | undefined {
    return this.items.get(conversation);
  }

  /** Pinned first, then most recent activity; archived entries last. */
  list(opts: { includeArchived?: boolean } = {}): InboxEntry[] {
    const all = [...this.items.values()].filter((e) => opts.includeArchived || !e.archived);
    return all.sort(
      (a, b) =>
        Number(a.archived) - Number(b.archived) ||
        Number(b.pinned) - Number(a.pinned) ||
        b.last_activity_at.localeCompare(a.last_activity_at) ||
        a.conversation_id.localeCompare(b.conversation_id),
    );
  }

  /** Unread and mention totals over entries that are not muted or archived. */
  totals(): { unread: number; mentions: number } {
    let unread = 0;
    let mentions = 0;
    for (const e of this.items.values()) {
      if (e.archived) continue;
      mentions += e.mention_count;
      if (!e.muted) unread += e.unread_count;
    }
    return { unread, mentions };
  }

  /** True when the conversation was removed from the list by a tombstone (and not brought back). */
  isRemoved(conversation: string): boolean {
    return this.removedAt.has(conversation);
  }

  /** @internal */
  _applyFrame(entry: InboxEntry): void {
    this.applyOne(entry);
  }

  /**
   * @internal A large channel's `inbox_hint`: raises `last_seq` (and the preview and activity
   * time it carries) and derives unread as `last_seq − last_read_seq` (capped at 999, as the
   * server does), never lowering anything. The version stays: the next real entry replaces it.
   * Unknown conversations are left to the inbox sync.
   */
  _applyHint(hint: Extract<ServerFrame, { type: 'inbox_hint' }>): void {
    const e = this.items.get(hint.conversation);
    if (!e || hint.last_seq <= e.last_seq) return;
    const derived = Math.min(Math.max(hint.last_seq - e.last_read_seq, 0), 999);
    const at = hint.last_activity_at;
    const next: InboxEntry = {
      ...e,
      last_seq: hint.last_seq,
      unread_count: Math.max(e.unread_count, derived),
      last_activity_at: at !== undefined && at > e.last_activity_at ? at : e.last_activity_at,
      last_message: hint.last_message ?? e.last_message,
    };
    this.items.set(hint.conversation, next);
    this.emit('change', { entries: [next] });
  }

  /** @internal */
  _applyPage(page: InboxPage): void {
    this.applyPageItems(page.entries, page);
  }

  /** @internal Optimistic read: counts drop now, the server's entry (higher version) settles it. */
  _markReadLocally(conversation: string, seq: number): void {
    const e = this.items.get(conversation);
    if (!e || seq <= e.last_read_seq) return;
    const caughtUp = seq >= e.last_seq;
    const next: InboxEntry = {
      ...e,
      last_read_seq: seq,
      unread_count: caughtUp ? 0 : e.unread_count,
      mention_count: caughtUp ? 0 : e.mention_count,
    };
    this.items.set(conversation, next);
    this.emit('change', { entries: [next] });
  }

  protected changed(entries: InboxEntry[]): void {
    this.emit('change', { entries });
  }

  /** Applies an entry (or tombstone); 'unchanged' when the visible list did not change. */
  protected merge(entry: InboxEntry): Merged {
    const id = entry.conversation_id;
    const prev = this.items.get(id);
    const tomb = this.removedAt.get(id);
    if (prev && prev.version > entry.version) return 'unchanged';
    // The same version seen again (a sync page behind a frame) with a lower last_seq: only a
    // hint raised it since, and a hint is never undone by the state it was raised from.
    if (prev && prev.version === entry.version && prev.last_seq > entry.last_seq && !isTombstone(entry))
      return 'unchanged';
    if (isTombstone(entry)) {
      // Equal versions are the same change seen twice; only a newer tombstone removes.
      if (prev && prev.version >= entry.version) return 'unchanged';
      if (tomb !== undefined && tomb >= entry.version) return 'unchanged';
      this.removedAt.set(id, entry.version);
      return this.items.delete(id) ? 'changed' : 'unchanged';
    }
    if (tomb !== undefined) {
      if (tomb >= entry.version) return 'unchanged';
      this.removedAt.delete(id);
    }
    this.items.set(id, entry);
    return prev ? 'changed' : 'new';
  }
}

/** `removed: true` marks a tombstone: the user left or was removed from the conversation. */
export function isTombstone(entry: InboxEntry): boolean {
  return entry.removed === true;
}
