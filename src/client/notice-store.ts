// The user's system notices: one Notice per id, merged from `notice` frames
// (personal room) and GET /v1/notices?since=<cursor> pages, exactly like the
// inbox store. A notice only replaces one with a lower or equal version, so
// a late page never rolls back a newer frame; the cursor moves only with
// sync pages, so a frame lost with a dropped socket is picked up by the next
// sync (DESIGN §7: notices lose nothing).
import type { Notice } from '../protocol/model.ts';
import { Emitter } from './emitter.ts';
import type { NoticesPage } from './http.ts';

export interface NoticeEvents {
  /** Notices that were added or changed (flags from another device), after the change. */
  change: { notices: Notice[] };
}

export class NoticeStore extends Emitter<NoticeEvents> {
  private readonly notices = new Map<string, Notice>();
  /** 0: the first sync pages every notice by version. */
  private _cursor: number | string | null = 0;
  private _synced = false;

  /** The cursor for the next GET /v1/notices?since=. */
  get cursor(): number | string | null {
    return this._cursor;
  }
  /** True once a full sync has completed. */
  get synced(): boolean {
    return this._synced;
  }

  get(id: string): Notice | undefined {
    return this.notices.get(id);
  }

  /** Newest first; archived and dismissed notices only when asked for. */
  list(opts: { includeArchived?: boolean; includeDismissed?: boolean } = {}): Notice[] {
    return [...this.notices.values()]
      .filter((n) => (opts.includeArchived || !n.archived) && (opts.includeDismissed || !n.dismissed))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  /** Notices not yet read, not archived and not dismissed. */
  unreadCount(): number {
    let n = 0;
    for (const x of this.notices.values()) if (!x.read && !x.archived && !x.dismissed) n++;
    return n;
  }

  /** @internal Returns the notice when this store had never seen its id. */
  _applyFrame(notice: Notice): Notice | null {
    const r = this.merge(notice);
    if (r !== 'unchanged') this.emit('change', { notices: [notice] });
    return r === 'new' ? notice : null;
  }

  /** @internal Returns the notices this store had never seen, in page order. */
  _applyPage(page: NoticesPage): Notice[] {
    const changed: Notice[] = [];
    const fresh: Notice[] = [];
    for (const n of page.notices) {
      const r = this.merge(n);
      if (r === 'unchanged') continue;
      changed.push(n);
      if (r === 'new') fresh.push(n);
    }
    if (page.next_since !== null && page.next_since !== undefined) this._cursor = page.next_since;
    if (!page.has_more) this._synced = true;
    if (changed.length) this.emit('change', { notices: changed });
    return fresh;
  }

  private merge(notice: Notice): 'new' | 'changed' | 'unchanged' {
    if (typeof notice?.id !== 'string') return 'unchanged';
    const prev = this.notices.get(notice.id);
    if (prev && (prev.version ?? 0) > (notice.version ?? 0)) return 'unchanged';
    this.notices.set(notice.id, notice);
    return prev ? 'changed' : 'new';
  }
}
