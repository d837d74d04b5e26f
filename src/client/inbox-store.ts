// The conversation list: one InboxEntry per conversation, merged from
// `inbox` frames (personal room) and GET /v1/inbox?since=<cursor> pages.
// An entry only replaces one with a lower or equal version, so a late page
// never rolls back a newer frame. An entry with `removed: true` (the user
// left or was removed) is a tombstone: it takes the conversation out of the
// list, and only a later entry with a higher version brings it back.
import type { InboxEntry } from '../protocol/model.ts';
import { Emitter } from './emitter.ts';
import type { InboxPage } from './http.ts';

export interface InboxEvents {
  /** Entries that changed, after the change. */
  change: { entries: InboxEntry[] };
}

export class InboxStore extends Emitter<InboxEvents> {
  private readonly entries = new Map<string, InboxEntry>();
  /** Versions of tombstones, by conversation: older entries arriving late must not resurrect it. */
  private readonly removedAt = new Map<string, number>();
  /** 0: a first sync pages every entry by version (the unfiltered list is only a first page). */
  private _cursor: number | string | null = 0;
  private _synced = false;

  /** The cursor for the next GET /v1/inbox?since=. */
  get cursor(): number | string | null {
    return this._cursor;
  }
  /** True once a full sync has completed. */
  get synced(): boolean {
    return this._synced;
  }

  get(conversation: string): InboxEntry | undefined {
    return this.entries.get(conversation);
  }

  /** Pinned first, then most recent activity; archived entries last. */
  list(opts: { includeArchived?: boolean } = {}): InboxEntry[] {
    const all = [...this.entries.values()].filter((e) => opts.includeArchived || !e.archived);
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
    for (const e of this.entries.values()) {
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
    if (this.merge(entry)) this.emit('change', { entries: [entry] });
  }

  /** @internal */
  _applyPage(page: InboxPage): void {
    const changed = page.entries.filter((e) => this.merge(e));
    if (page.next_since !== null && page.next_since !== undefined) this._cursor = page.next_since;
    if (!page.has_more) this._synced = true;
    if (changed.length) this.emit('change', { entries: changed });
  }

  /** @internal Optimistic read: counts drop now, the server's entry (higher version) settles it. */
  _markReadLocally(conversation: string, seq: number): void {
    const e = this.entries.get(conversation);
    if (!e || seq <= e.last_read_seq) return;
    const caughtUp = seq >= e.last_seq;
    const next: InboxEntry = {
      ...e,
      last_read_seq: seq,
      unread_count: caughtUp ? 0 : e.unread_count,
      mention_count: caughtUp ? 0 : e.mention_count,
    };
    this.entries.set(conversation, next);
    this.emit('change', { entries: [next] });
  }

  /** Applies an entry (or tombstone); true when the visible list changed. */
  private merge(entry: InboxEntry): boolean {
    const id = entry.conversation_id;
    const prev = this.entries.get(id);
    const tomb = this.removedAt.get(id);
    if (prev && prev.version > entry.version) return false;
    if (isTombstone(entry)) {
      // Equal versions are the same change seen twice; only a newer tombstone removes.
      if (prev && prev.version >= entry.version) return false;
      if (tomb !== undefined && tomb >= entry.version) return false;
      this.removedAt.set(id, entry.version);
      return this.entries.delete(id);
    }
    if (tomb !== undefined) {
      if (tomb >= entry.version) return false;
      this.removedAt.delete(id);
    }
    this.entries.set(id, entry);
    // The cursor moves only with sync pages: a frame lost in a dropped socket's queue must
    // still be picked up by the next GET /v1/inbox?since=.
    return true;
  }
}

/** `removed: true` marks a tombstone: the user left or was removed from the conversation. */
export function isTombstone(entry: InboxEntry): boolean {
  return entry.removed === true;
}
