// Read-side SQL for the HTTP API (and the gateway's catch-up): history,
// the event log, members, receipts, the inbox and notices — plus the two
// recipient-state updates (inbox flags, notice flags), which touch only the
// caller's own rows. Sql port only. Every statement filters by tenant, and
// every read of a conversation first checks the reader may see it.
import type {
  Conversation,
  ConversationEvent,
  InboxEntry,
  Member,
  Message,
  Notice,
} from '../protocol/index.ts';
import { HeraldError, topics } from '../protocol/index.ts';
import type { Row, Sql } from './ports.ts';
import { inboxEntryJson, insertInboxFrames, iso, NOTICE_JSON, TOMBSTONE_JSON, toMessage } from './rows.ts';

/** The most rows any list returns in one page. */
export const MAX_PAGE = 200;

export interface ReadableConversation {
  conversation: Conversation;
  role: Member['role'] | null;
  audience: 'members' | 'tenant';
}

export function toConversation(r: Row): Conversation {
  return {
    id: r.id as string,
    tenant_id: r.tenant_id as string,
    kind: r.kind as Conversation['kind'],
    title: (r.title as string | null) ?? null,
    last_seq: Number(r.last_seq),
    member_count: Number(r.member_count),
    last_message: (r.last_message as Conversation['last_message']) ?? null,
    created_at: iso(r.created_at),
  };
}

/**
 * The conversation as `user` may see it: members, and every user of the
 * tenant for tenant-wide announcements. Other tenants' ids are not found.
 */
export async function readableConversation(
  sql: Sql,
  tenant: string,
  user: string,
  id: string,
): Promise<ReadableConversation> {
  const { rows } = await sql.query(
    `SELECT c.*, m.role FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2`,
    [tenant, id, user],
  );
  const r = rows[0];
  if (!r) throw new HeraldError('CONVERSATION_NOT_FOUND');
  const role = (r.role as Member['role'] | null) ?? null;
  const audience = r.audience as 'members' | 'tenant';
  if (!role && !(r.kind === 'announcement' && audience === 'tenant')) throw new HeraldError('NOT_A_MEMBER');
  return { conversation: toConversation(r), role, audience };
}

/** Kind of a conversation of the tenant (routing a send to its command). */
export async function conversationKind(sql: Sql, tenant: string, id: string): Promise<Conversation['kind']> {
  const { rows } = await sql.query<{ kind: Conversation['kind'] }>(
    'SELECT kind FROM conversations WHERE tenant_id = $1 AND id = $2',
    [tenant, id],
  );
  if (!rows[0]) throw new HeraldError('CONVERSATION_NOT_FOUND');
  return rows[0].kind;
}

export interface Page {
  after_seq?: number;
  before_seq?: number;
  limit: number;
}

/**
 * The main timeline by keyset on seq, never OFFSET: thread replies are not in it (their
 * roots carry reply_count; threads.ts lists a thread). No bound: the newest page. Pages
 * come back in ascending seq; `has_more` says whether more lie beyond the
 * page in the direction of travel (older for before/newest, newer for after).
 */
export async function listMessages(
  sql: Sql,
  tenant: string,
  conversation: string,
  page: Page,
): Promise<{ messages: Message[]; has_more: boolean }> {
  const limit = Math.min(page.limit, MAX_PAGE);
  const ascending = page.after_seq !== undefined;
  const { rows } = await sql.query(
    `SELECT * FROM messages
      WHERE tenant_id = $1 AND conversation_id = $2 AND thread_root IS NULL
        AND ($3::bigint IS NULL OR seq > $3) AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq ${ascending ? 'ASC' : 'DESC'} LIMIT $5`,
    [tenant, conversation, page.after_seq ?? null, page.before_seq ?? null, limit + 1],
  );
  const has_more = rows.length > limit;
  const messages = rows.slice(0, limit).map(toMessage);
  if (!ascending) messages.reverse();
  return { messages, has_more };
}

/**
 * The conversation log after `after_seq` (gap repair). Events of deleted
 * messages carry the message's current (erased) state, never the old body.
 */
export async function listEvents(
  sql: Sql,
  tenant: string,
  conversation: string,
  afterSeq: number,
  limit: number,
): Promise<{ events: { seq: number; event: ConversationEvent }[]; has_more: boolean }> {
  const n = Math.min(limit, MAX_PAGE);
  const { rows } = await sql.query<{ seq: number; payload: ConversationEvent; current: Row | null }>(
    `SELECT ev.seq, ev.payload,
            CASE WHEN m.deleted_at IS NOT NULL THEN to_jsonb(m) END AS current
       FROM events ev
       LEFT JOIN messages m ON m.tenant_id = ev.tenant_id AND m.id = ev.message_id
      WHERE ev.tenant_id = $1 AND ev.conversation_id = $2 AND ev.seq > $3
      ORDER BY ev.seq LIMIT $4`,
    [tenant, conversation, afterSeq, n + 1],
  );
  const events = rows.slice(0, n).map((r) => {
    let event = r.payload;
    if (r.current && (event.type === 'message.created' || event.type === 'message.edited')) {
      // to_jsonb renders timestamps as text: revive them so the shape matches toMessage's.
      const cur = { ...r.current };
      for (const k of ['created_at', 'edited_at', 'deleted_at'])
        if (cur[k] != null) cur[k] = new Date(String(cur[k]));
      event = { ...event, message: toMessage(cur) };
    }
    return { seq: Number(r.seq), event };
  });
  return { events, has_more: rows.length > n };
}

export async function listMembers(
  sql: Sql,
  tenant: string,
  conversation: string,
  after: string | undefined,
  limit: number,
): Promise<{ members: Member[]; has_more: boolean }> {
  const n = Math.min(limit, 1000);
  const { rows } = await sql.query<{ user_id: string; role: Member['role']; joined_at: unknown }>(
    `SELECT user_id, role, joined_at FROM members
      WHERE tenant_id = $1 AND conversation_id = $2 AND ($3::text IS NULL OR user_id > $3)
      ORDER BY user_id LIMIT $4`,
    [tenant, conversation, after ?? null, n + 1],
  );
  return {
    members: rows.slice(0, n).map((r) => ({ user_id: r.user_id, role: r.role, joined_at: iso(r.joined_at) })),
    has_more: rows.length > n,
  };
}

export interface SyncPage<T> {
  items: T[];
  next_since: number;
  has_more: boolean;
}

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

/**
 * The conversation list in ONE statement: entry + conversation + preview.
 * No `since`: pinned first, then by last activity; entries of conversations the user left are
 * not listed. With `since`: what changed since the cursor (left conversations included, as
 * `removed: true` entries), by transaction. `next_since` is the cursor for the next sync call.
 */
export async function listInbox(
  sql: Sql,
  tenant: string,
  user: string,
  since: number | undefined,
  limit: number,
  largeThreshold: number,
): Promise<SyncPage<InboxEntry>> {
  const n = Math.min(limit, MAX_PAGE);
  const entry = inboxEntryJson(largeThreshold);
  if (since === undefined) {
    const { rows } = await sql.query<{ entry: InboxEntry; horizon: string }>(
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
    sql.query<SyncRow & { item: InboxEntry }>(
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

export interface InboxFlags {
  archived?: boolean;
  muted?: boolean;
  pinned?: boolean;
}

/**
 * Sets the caller's own flags on one inbox entry, bumps its version and
 * writes the `inbox` frame to the caller's personal topic — one statement.
 * Call inside a transaction after readableConversation.
 */
export async function updateInboxEntry(
  sql: Sql,
  tenant: string,
  user: string,
  conversation: string,
  flags: InboxFlags,
  largeThreshold: number,
  traceId?: string,
): Promise<InboxEntry> {
  const { rows } = await sql.query<{ entry: InboxEntry }>(
    `WITH up AS (
       INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, archived, muted, pinned)
       VALUES ($1, $2, $3, COALESCE($4, false), COALESCE($5, false), COALESCE($6, false))
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
         archived = COALESCE($4, e.archived), muted = COALESCE($5, e.muted), pinned = COALESCE($6, e.pinned),
         version = nextval('inbox_version')
       RETURNING e.*),
     j AS (
       SELECT ${inboxEntryJson(largeThreshold)} AS entry
         FROM up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3),
     ob AS (
       ${insertInboxFrames({
         tenant: '$1',
         from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3',
         entry: inboxEntryJson(largeThreshold),
         trace: '$7',
       })})
     SELECT entry FROM j`,
    [
      tenant,
      user,
      conversation,
      flags.archived ?? null,
      flags.muted ?? null,
      flags.pinned ?? null,
      traceId ?? null,
    ],
  );
  return rows[0].entry;
}

/** The caller's notices: newest first, or (with `since`) changed since the cursor, by transaction. */
export async function listNotices(
  sql: Sql,
  tenant: string,
  user: string,
  since: number | undefined,
  limit: number,
): Promise<SyncPage<Notice>> {
  const n = Math.min(limit, MAX_PAGE);
  const from = `FROM notice_entries ne JOIN notices n ON n.tenant_id = ne.tenant_id AND n.id = ne.notice_id
      WHERE ne.tenant_id = $1 AND ne.user_id = $2`;
  if (since === undefined) {
    const { rows } = await sql.query<{ notice: Notice; horizon: string }>(
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
    sql.query<SyncRow & { item: Notice }>(
      `WITH h AS MATERIALIZED (SELECT ${HORIZON} AS x)
       SELECT ${NOTICE_JSON} AS item, ne.xid::text AS xid, (SELECT x FROM h)::text AS horizon ${from}
          AND ${inSync('ne')} AND ($5::text IS NULL OR ne.xid = $5::text::xid8)
        ORDER BY ne.xid, ne.version LIMIT $4`,
      [tenant, user, String(since), extra.limit, extra.onlyXid],
    ),
  );
}

export interface NoticeFlags {
  read?: boolean;
  archived?: boolean;
  dismissed?: boolean;
  escalated?: boolean;
}

/** Sets the caller's flags on their copy of a notice and writes the `notice` frame — one statement. */
export async function updateNoticeEntry(
  sql: Sql,
  tenant: string,
  user: string,
  notice: string,
  flags: NoticeFlags,
  traceId?: string,
): Promise<Notice> {
  const { rows } = await sql.query<{ notice: Notice }>(
    `WITH up AS (
       UPDATE notice_entries SET read = COALESCE($4, read), archived = COALESCE($5, archived),
              dismissed = COALESCE($6, dismissed), escalated = COALESCE($7, escalated),
              version = nextval('inbox_version')
        WHERE tenant_id = $1 AND user_id = $2 AND notice_id = $3 RETURNING *),
     j AS (
       SELECT ${NOTICE_JSON} AS notice FROM up ne JOIN notices n ON n.tenant_id = $1 AND n.id = ne.notice_id),
     ob AS (
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, $8, jsonb_build_object('type', 'notice', 'notice', j.notice), $9 FROM j)
     SELECT notice FROM j`,
    [
      tenant,
      user,
      notice,
      flags.read ?? null,
      flags.archived ?? null,
      flags.dismissed ?? null,
      flags.escalated ?? null,
      topics.user(tenant, user),
      traceId ?? null,
    ],
  );
  if (!rows[0]) throw new HeraldError('NOTICE_NOT_FOUND');
  return rows[0].notice;
}
