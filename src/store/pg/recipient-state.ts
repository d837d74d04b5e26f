// The user's own recipient state as read: the inbox (one entry per conversation) and notices,
// listed or synced by transaction cursor (the horizon below). One statement per page, however
// many entries it holds (a guard test counts them); the entry shapes are the database's
// functions (sql.ts).
import type { Sql } from '../../domain/ports.ts';
import { MAX_PAGE, type RecipientStateReader, type SyncPage } from '../../domain/read-ports.ts';
import type { InboxEntry, Notice } from '../../protocol/index.ts';
import { inboxEntryJson, NOTICE_JSON, TOMBSTONE_JSON } from './sql.ts';

/**
 * Sync cursors are transaction ids, not versions. A version is taken before its transaction
 * commits, so version 100 can become visible after 101: a cursor at 101 would skip it. Every
 * inbox/notice row records the transaction that last wrote it (`xid`, migration 003), and a
 * sync returns only rows of transactions older than every transaction of this database still
 * in flight — all of them committed and visible to the statement. No later commit can add a
 * row below that horizon, so the horizon is the next cursor. Rows are ordered by (xid,
 * version), and a page never splits one transaction's rows.
 *
 * The horizon is the statement snapshot's oldest in-flight xid, skipping those that
 * pg_stat_activity attributes to another database of the cluster (they cannot write our
 * tables; a long transaction elsewhere must not stall every sync here). An xid it cannot
 * attribute (no permission, prepared transaction, already gone) holds the horizon: safe.
 */
const HORIZON = `(SELECT COALESCE(min(r.x), pg_snapshot_xmax(pg_current_snapshot()))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS r(x)
   WHERE NOT EXISTS (
     SELECT 1 FROM pg_stat_activity a
      WHERE a.backend_xid = r.x::xid
        AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))`;

/** The bounds of a sync from cursor `$3` (a text parameter) over alias `a`, with `h` the horizon CTE. */
const inSync = (a: string) => `${a}.xid >= $3::text::xid8 AND ${a}.xid < (SELECT x FROM h)`;

type SyncRow = {
  /** Transaction id of the row's last write, as text (xid8). */
  xid: string;
  /** The horizon of the statement's snapshot, as text (xid8). */
  horizon: string;
};

export class PgRecipientStateReader implements RecipientStateReader {
  constructor(private readonly sql: Sql) {}

  /**
   * The conversation list in ONE statement: entry + conversation + preview.
   * No `since`: pinned first, then by last activity; entries of conversations the user left are
   * not listed. With `since`: what changed since the cursor (left conversations included, as
   * `removed: true` entries), by transaction. `next_since` is the cursor for the next sync call.
   */
  async inbox(
    tenant: string,
    user: string,
    since: number | undefined,
    limit: number,
    largeThreshold: number,
  ): Promise<SyncPage<InboxEntry>> {
    const n = Math.min(limit, MAX_PAGE);
    const entry = inboxEntryJson(largeThreshold);
    if (since === undefined) {
      const { rows } = await this.sql.query<{ entry: InboxEntry; horizon: string }>(
        `WITH h AS MATERIALIZED (SELECT ${HORIZON} AS x)
       SELECT ${entry} AS entry, (SELECT x FROM h)::text AS horizon
         FROM inbox_entries e
         JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
        WHERE e.tenant_id = $1 AND e.user_id = $2
        ORDER BY e.pinned DESC,
                 GREATEST(e.last_activity_at, COALESCE(c.last_message_at, e.last_activity_at)) DESC,
                 e.conversation_id
        LIMIT $3`,
        [tenant, user, n + 1],
      );
      return {
        items: rows.slice(0, n).map((r) => r.entry),
        // The list reflects every transaction below the horizon: sync on from there.
        next_since: rows.length ? Number(rows[0].horizon) : 0,
        has_more: rows.length > n,
      };
    }
    return syncPage(since, n, (extra) =>
      this.sql.query<SyncRow & { item: InboxEntry }>(
        `WITH h AS MATERIALIZED (SELECT ${HORIZON} AS x)
       SELECT s.item, s.xid::text AS xid, (SELECT x FROM h)::text AS horizon FROM (
         SELECT ${entry} AS item, e.xid, e.version
           FROM inbox_entries e
           JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id
          WHERE e.tenant_id = $1 AND e.user_id = $2 AND ${inSync('e')}
         UNION ALL
         SELECT ${TOMBSTONE_JSON}, t.xid, t.version
           FROM inbox_tombstones t
           JOIN conversations c ON c.tenant_id = t.tenant_id AND c.id = t.conversation_id
          WHERE t.tenant_id = $1 AND t.user_id = $2 AND ${inSync('t')}
            -- An entry written since (a rejoin, a tenant-wide announcement) supersedes it.
            AND NOT EXISTS (SELECT 1 FROM inbox_entries x WHERE x.tenant_id = $1 AND x.user_id = $2
                               AND x.conversation_id = t.conversation_id)) s
        WHERE $5::text IS NULL OR s.xid = $5::text::xid8
        ORDER BY s.xid, s.version LIMIT $4`,
        [tenant, user, String(since), extra.limit, extra.onlyXid],
      ),
    );
  }

  /** The caller's notices: newest first, or (with `since`) changed since the cursor, by transaction. */
  async notices(
    tenant: string,
    user: string,
    since: number | undefined,
    limit: number,
  ): Promise<SyncPage<Notice>> {
    const n = Math.min(limit, MAX_PAGE);
    const from = `FROM notice_entries ne JOIN notices n ON n.tenant_id = ne.tenant_id AND n.id = ne.notice_id
      WHERE ne.tenant_id = $1 AND ne.user_id = $2`;
    if (since === undefined) {
      const { rows } = await this.sql.query<{ notice: Notice; horizon: string }>(
        `WITH h AS MATERIALIZED (SELECT ${HORIZON} AS x)
       SELECT ${NOTICE_JSON} AS notice, (SELECT x FROM h)::text AS horizon ${from}
        ORDER BY ne.created_at DESC, ne.notice_id DESC LIMIT $3`,
        [tenant, user, n + 1],
      );
      return {
        items: rows.slice(0, n).map((r) => r.notice),
        next_since: rows.length ? Number(rows[0].horizon) : 0,
        has_more: rows.length > n,
      };
    }
    return syncPage(since, n, (extra) =>
      this.sql.query<SyncRow & { item: Notice }>(
        `WITH h AS MATERIALIZED (SELECT ${HORIZON} AS x)
       SELECT ${NOTICE_JSON} AS item, ne.xid::text AS xid, (SELECT x FROM h)::text AS horizon ${from}
          AND ${inSync('ne')} AND ($5::text IS NULL OR ne.xid = $5::text::xid8)
        ORDER BY ne.xid, ne.version LIMIT $4`,
        [tenant, user, String(since), extra.limit, extra.onlyXid],
      ),
    );
  }
}

/**
 * One sync page from `query` (rows ordered by xid, version; at most `limit`, optionally only
 * one transaction's rows). A page cut inside one transaction's rows drops them and resumes at
 * that transaction; a single transaction with more rows than a page is returned whole.
 */
async function syncPage<T>(
  since: number,
  n: number,
  query: (extra: { limit: number | null; onlyXid: string | null }) => Promise<{
    rows: (SyncRow & { item: T })[];
  }>,
): Promise<SyncPage<T>> {
  const { rows } = await query({ limit: n + 1, onlyXid: null });
  if (rows.length <= n) {
    // Everything below the horizon was seen; with no rows, the cursor stays.
    return {
      items: rows.map((r) => r.item),
      next_since: rows.length ? Number(rows[0].horizon) : since,
      has_more: false,
    };
  }
  const cut = rows[n].xid;
  let page = rows.slice(0, n).filter((r) => r.xid !== cut);
  if (page.length > 0) return { items: page.map((r) => r.item), next_since: Number(cut), has_more: true };
  // One transaction changed more than a page of this user's rows: return them together.
  page = (await query({ limit: null, onlyXid: cut })).rows;
  return { items: page.map((r) => r.item), next_since: Number(cut) + 1, has_more: true };
}
