// The store's side of `herald reconcile` (src/domain/reconcile.ts), in the domain's words: the
// tenants, a page of inbox entries checked against the counter rule, the conversation locks and
// the rewrite of what drifted. The domain decides what is derived and compared (the rule), what a
// page is, when to repair and under which lock; the store runs the statements. Implemented in
// src/store/pg/reconcile.ts; injected as `ReconcileDeps.counters`, bound to a connection or to
// the repair's transaction.
import type { Sql } from './ports.ts';

export interface EntryCounts {
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
}

/** An inbox entry's key: its primary key within the tenant, the order pages follow. */
export interface EntryKey {
  user_id: string;
  conversation_id: string;
}

export interface DriftedEntry extends EntryKey {
  stored: EntryCounts;
  /** What a repair writes: the recount where a value drifted, the stored value elsewhere. */
  recounted: EntryCounts;
}

export interface EntryPage {
  /** Entries looked at. */
  checked: number;
  /** The page's last entry (the next page starts after it); null: the page is empty. */
  last: EntryKey | null;
  /** The page's entries that differ from the rule, in key order, stored vs recounted. */
  drifted: DriftedEntry[];
}

export interface EntryCounters {
  /** Every tenant's id, in order. */
  tenantIds(): Promise<string[]>;
  /** Those of `ids` that are tenants. */
  knownTenants(ids: readonly string[]): Promise<Set<string>>;
  /**
   * Up to `limit` of the tenant's inbox entries after `after` in key order, checked against
   * the counter rule (src/domain/reconcile.ts, "what is derived"; large channels above
   * `largeThreshold` keep no unread counter). One statement: stored values and the log come
   * from one snapshot.
   */
  page(tenant: string, after: EntryKey, limit: number, largeThreshold: number): Promise<EntryPage>;
  /** Locks these conversations' rows (`FOR UPDATE`) in id order. */
  lockConversations(tenant: string, ids: readonly string[]): Promise<void>;
  /**
   * Rewrites those of these entries that still differ from the rule — the recounted values, a new
   * version — and writes each an `inbox` frame (the entry as `largeChannelThreshold` renders
   * it); the number rewritten. One statement.
   */
  rewrite(
    tenant: string,
    entries: readonly EntryKey[],
    o: { largeChannelThreshold: number; traceId?: string },
  ): Promise<number>;
}

/** The reconcile statements over a connection or a transaction: `counters(tx)` inside one. */
export type ReconcileStore = (sql: Sql) => EntryCounters;
