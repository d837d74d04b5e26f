// What the inbox and notices stores share: items keyed by id, merged from live
// frames (personal room) and GET …?since=<cursor> pages. An item only replaces
// one with a lower or equal version (each store's merge() says how), so a late
// page never rolls back a newer frame. The cursor moves only with sync pages:
// a frame lost in a dropped socket's queue must still be picked up by the next
// sync (DESIGN §7).
import { Emitter } from './emitter.ts';

/** What merging one item did: it was never seen, it changed the store, or nothing. */
export type Merged = 'new' | 'changed' | 'unchanged';

/** The cursor fields of a sync page (GET /v1/inbox, GET /v1/notices). */
export interface CursorPage {
  next_since?: number | string | null;
  has_more: boolean;
}

export abstract class SyncedStore<T, Events extends object> extends Emitter<Events> {
  protected readonly items = new Map<string, T>();
  /** 0: a first sync pages every item by version (the unfiltered list is only a first page). */
  private _cursor: number | string | null = 0;
  private _synced = false;

  /** The cursor for the next sync request (`since=`). */
  get cursor(): number | string | null {
    return this._cursor;
  }
  /** True once a full sync has completed. */
  get synced(): boolean {
    return this._synced;
  }

  /** Applies one item (or tombstone) to the map; says what changed. */
  protected abstract merge(item: T): Merged;
  /** Tells listeners which items changed, after the change. */
  protected abstract changed(items: T[]): void;

  /** A live item (frame, HTTP answer): merged, and announced when it changed something. */
  protected applyOne(item: T): Merged {
    const r = this.merge(item);
    if (r !== 'unchanged') this.changed([item]);
    return r;
  }

  /** A sync page's items, then its cursor; returns the items this store had never seen, in order. */
  protected applyPageItems(items: readonly T[], page: CursorPage): T[] {
    const changed: T[] = [];
    const fresh: T[] = [];
    for (const item of items) {
      const r = this.merge(item);
      if (r === 'unchanged') continue;
      changed.push(item);
      if (r === 'new') fresh.push(item);
    }
    if (page.next_since !== null && page.next_since !== undefined) this._cursor = page.next_since;
    if (!page.has_more) this._synced = true;
    if (changed.length) this.changed(changed);
    return fresh;
  }
}
