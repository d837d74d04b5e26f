// The user's system notices: one Notice per id, merged from `notice` frames
// and GET /v1/notices?since=<cursor> pages, with the same version and cursor
// rules as the inbox (synced-store.ts): notices lose nothing (DESIGN §7).
import type { Notice } from '../protocol/model.ts';
import type { NoticesPage } from './http.ts';
import { type Merged, SyncedStore } from './synced-store.ts';

export interface NoticeEvents {
  /** Notices that were added or changed (flags from another device), after the change. */
  change: { notices: Notice[] };
}

export class NoticeStore extends SyncedStore<Notice, NoticeEvents> {
  get(id: string): Notice | undefined {
    return this.items.get(id);
  }

  /** Newest first; archived and dismissed notices only when asked for. */
  list(opts: { includeArchived?: boolean; includeDismissed?: boolean } = {}): Notice[] {
    return [...this.items.values()]
      .filter((n) => (opts.includeArchived || !n.archived) && (opts.includeDismissed || !n.dismissed))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  /** Notices not yet read, not archived and not dismissed. */
  unreadCount(): number {
    let n = 0;
    for (const x of this.items.values()) if (!x.read && !x.archived && !x.dismissed) n++;
    return n;
  }

  /** @internal Returns the notice when this store had never seen its id. */
  _applyFrame(notice: Notice): Notice | null {
    return this.applyOne(notice) === 'new' ? notice : null;
  }

  /** @internal Returns the notices this store had never seen, in page order. */
  _applyPage(page: NoticesPage): Notice[] {
    return this.applyPageItems(page.notices, page);
  }

  protected changed(notices: Notice[]): void {
    this.emit('change', { notices });
  }

  protected merge(notice: Notice): Merged {
    if (typeof notice?.id !== 'string') return 'unchanged';
    const prev = this.items.get(notice.id);
    if (prev && (prev.version ?? 0) > (notice.version ?? 0)) return 'unchanged';
    this.items.set(notice.id, notice);
    return prev ? 'changed' : 'new';
  }
}
