// The SQL the store's statements share: the wire JSON built inside the database (so outbox
// payloads and read queries produce one shape), the counters' recount, the access rule and the
// effective delivered seq as SQL expressions. Arguments are SQL expressions (`$1`, `e.user_id`).
import { COUNT_CAP } from '../../domain/read-marker.ts';

/**
 * The rule as a SQL condition over conversation alias `c` and a LEFT JOINed `members` alias `m`
 * (null when the user is not a member). The store's form of the domain's `mayRead`
 * (src/domain/access.ts); test/domain/access-rule.test.ts holds the two to one verdict.
 */
export function mayReadSql(c: string, m: string): string {
  return `(${m}.user_id IS NOT NULL OR (${c}.kind = 'announcement' AND ${c}.audience = 'tenant'))`;
}

/** SQL expression of a recipient's effective delivered seq from inbox alias `e`. */
export const DELIVERED_SQL = 'GREATEST(e.last_delivered_seq, e.last_read_seq)';

/**
 * SQL expressions of an entry's unread and mention counts recounted from the log: live messages
 * after `after` (the read marker), capped at COUNT_CAP. Unread skips system messages, the
 * user's own and thread replies (a thread keeps its own unread: threads.ts). The one definition of what counts, for mark-read, recounts and `herald reconcile`.
 * Arguments are SQL expressions (`$1`, `e.user_id`, …).
 */
export function recountSql(o: { tenant: string; conversation: string; user: string; after: string }): {
  unread: string;
  mention: string;
} {
  const live = `m.tenant_id = ${o.tenant} AND m.conversation_id = ${o.conversation}
                AND m.seq > ${o.after} AND m.deleted_at IS NULL AND m.thread_root IS NULL`;
  return {
    unread: `(SELECT count(*) FROM (
               SELECT 1 FROM messages m WHERE ${live} AND m.kind <> 'system'
                  AND m.sender_id IS DISTINCT FROM ${o.user} LIMIT ${COUNT_CAP}) x)`,
    mention: `(SELECT count(*) FROM (
               SELECT 1 FROM messages m WHERE ${live} AND ${o.user} = ANY(m.mentions) LIMIT ${COUNT_CAP}) x)`,
  };
}

/**
 * SQL expression of an InboxEntry as jsonb, from inbox alias `e` and conversation alias `c`.
 * The shape has one definition, `herald_inbox_entry` (migration 005), which the write path's
 * SQL function uses too. Large channels keep no per-message unread counter: unread derives
 * from seqs (DESIGN §6).
 */
export function inboxEntryJson(largeThreshold: number): string {
  return `herald_inbox_entry(c.id, c.kind, c.title, c.last_seq, c.member_count, c.last_message,
    c.last_message_at, e.last_read_seq, e.unread_count, e.mention_count, e.archived, e.muted, e.pinned,
    e.last_activity_at, e.version, ${Number(largeThreshold)})`;
}

/**
 * A statement (or scalar sub-select) that takes one user's inbox row lock, waiting for a send
 * that holds it. A statement that rewrites an entry and builds the entry it returns or sends from
 * the conversation row and the log must not be the one that waits: in READ COMMITTED it would
 * update the row the send left but read the conversation and messages from its snapshot taken
 * before the wait — a new version with the old last_seq, preview and unread count, for good.
 * Taking the lock in an earlier statement gives the writing statement a snapshot with the send.
 */
export function lockEntrySql(tenant: string, user: string, conversation: string): string {
  return `SELECT true FROM inbox_entries
     WHERE tenant_id = ${tenant} AND user_id = ${user} AND conversation_id = ${conversation} FOR UPDATE`;
}

/**
 * SQL expression of a user's personal topic, the same string as `topics.user` (protocol/topics.ts):
 * `tenant` and `user` are SQL expressions (a parameter like `$1`, a column like `e.user_id`).
 */
export function userTopicSql(tenant: string, user: string): string {
  return `('t:' || ${tenant} || ':u:' || ${user})`;
}

/**
 * The statement that writes one `inbox` frame per row to that row's user: append it after a
 * CTE, or use it as one. `from` names the rows (e.g. `up e JOIN conversations c ON …`), `entry`
 * is the SQL expression of the frame's entry over them (`inboxEntryJson(…)`, `TOMBSTONE_JSON`),
 * `user` the row's user column; `tenant` and `trace` are SQL expressions.
 */
export function insertInboxFrames(o: {
  tenant: string;
  from: string;
  entry: string;
  trace: string;
  user?: string;
}): string {
  return `INSERT INTO outbox (tenant_id, topic, payload, trace_id)
     SELECT ${o.tenant}, ${userTopicSql(o.tenant, o.user ?? 'e.user_id')},
            jsonb_build_object('type', 'inbox', 'entry', ${o.entry}), ${o.trace}
       FROM ${o.from}`;
}

/**
 * SQL expression of the InboxEntry that tells a user they left or were removed, from tombstone
 * alias `t` and conversation alias `c`. It carries nothing of the conversation after they left
 * (no preview, no title, counts zero) and `removed: true`: clients drop the entry.
 */
export const TOMBSTONE_JSON = `jsonb_build_object(
    'conversation_id', t.conversation_id, 'kind', c.kind, 'title', NULL::text, 'last_seq', t.last_seq,
    'last_read_seq', t.last_seq, 'unread_count', 0, 'mention_count', 0,
    'archived', false, 'muted', false, 'pinned', false,
    'last_activity_at', herald_ts(t.removed_at), 'last_message', NULL::jsonb, 'version', t.version, 'removed', true)`;

/** SQL expression of the `notice` wire shape from notice alias `n` and entry alias `ne`. */
export const NOTICE_JSON = `jsonb_build_object(
  'id', n.id, 'title', n.title, 'body', n.body, 'data', n.data, 'created_at', herald_ts(n.created_at),
  'read', ne.read, 'archived', ne.archived, 'dismissed', ne.dismissed, 'escalated', ne.escalated,
  'version', ne.version)`;

/**
 * SQL of a ThreadEntry from thread entry alias `t` and root message alias `r` (one shape:
 * `herald_thread_entry`, migration 016), for the thread reads and the thread writes alike.
 */
export const THREAD_ENTRY_JSON = `herald_thread_entry(t.conversation_id, t.root_id, r.reply_count, r.last_reply_at,
  t.last_read_seq, t.unread_count, t.version)`;
