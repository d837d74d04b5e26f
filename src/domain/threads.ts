// Threads, read side and the thread read marker. A reply is written by the send path
// (`thread_root` in the message input; herald_send_reply, migration 016); this module lists a
// thread's replies, a user's thread entries, and moves a user's read marker of one thread.
// Threads are one level: a reply to a reply joins its root's thread, so a reply's id names
// the same thread as its root's.
import { HeraldError, type Message, type ThreadEntry, topics } from '../protocol/index.ts';
import type { DomainDeps } from './commands.ts';
import type { ComposeContext } from './compose.ts';
import type { Sql } from './ports.ts';
import { MAX_PAGE, type Page, readableConversation } from './queries.ts';
import { toMessage } from './rows.ts';

/** SQL of a ThreadEntry from thread entry alias `t` and root message alias `r` (one shape: migration 016). */
const ENTRY_JSON = `herald_thread_entry(t.conversation_id, t.root_id, r.reply_count, r.last_reply_at,
  t.last_read_seq, t.unread_count, t.version)`;

/** The root of the thread `id` names in `conversation` (its own id, or a reply's root); MESSAGE_NOT_FOUND. */
async function rootOf(sql: Sql, tenant: string, conversation: string, id: string): Promise<Message> {
  const { rows } = await sql.query(
    `SELECT r.* FROM messages m
       JOIN messages r ON r.tenant_id = m.tenant_id AND r.id = COALESCE(m.thread_root, m.id)
      WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.id = $3`,
    [tenant, conversation, id],
  );
  if (!rows[0]) throw new HeraldError('MESSAGE_NOT_FOUND');
  return toMessage(rows[0]);
}

/**
 * A thread's replies by keyset on seq (as the main timeline pages: no bound gives the newest
 * page, pages ascend), with its root. Members only (readers of the conversation).
 */
export async function listThread(
  sql: Sql,
  tenant: string,
  user: string,
  conversation: string,
  rootId: string,
  page: Page,
): Promise<{ root: Message; messages: Message[]; has_more: boolean }> {
  await readableConversation(sql, tenant, user, conversation);
  const root = await rootOf(sql, tenant, conversation, rootId);
  const limit = Math.min(page.limit, MAX_PAGE);
  const ascending = page.after_seq !== undefined;
  const { rows } = await sql.query(
    `SELECT * FROM messages
      WHERE tenant_id = $1 AND thread_root = $2
        AND ($3::bigint IS NULL OR seq > $3) AND ($4::bigint IS NULL OR seq < $4)
      ORDER BY seq ${ascending ? 'ASC' : 'DESC'} LIMIT $5`,
    [tenant, root.id, page.after_seq ?? null, page.before_seq ?? null, limit + 1],
  );
  const messages = rows.slice(0, limit).map(toMessage);
  if (!ascending) messages.reverse();
  return { root, messages, has_more: rows.length > limit };
}

/** The caller's thread entries of a conversation, most recent reply first (unread badges). */
export async function listThreadEntries(
  sql: Sql,
  tenant: string,
  user: string,
  conversation: string,
  limit: number,
  /** Only this thread's entry (a root's id). */
  rootId?: string,
): Promise<ThreadEntry[]> {
  await readableConversation(sql, tenant, user, conversation);
  const { rows } = await sql.query<{ entry: ThreadEntry }>(
    `SELECT ${ENTRY_JSON} AS entry FROM thread_entries t
       JOIN messages r ON r.tenant_id = t.tenant_id AND r.id = t.root_id
      WHERE t.tenant_id = $1 AND t.user_id = $2 AND t.conversation_id = $3
        AND ($5::text IS NULL OR t.root_id = $5)
      ORDER BY r.last_reply_at DESC NULLS LAST, t.root_id LIMIT $4`,
    [tenant, user, conversation, Math.min(limit, MAX_PAGE), rootId ?? null],
  );
  return rows.map((r) => r.entry);
}

/**
 * Moves the caller's read marker of a thread forward to `seq` (never back) and recounts its
 * unread from the log; the entry goes to the user's other devices as a `thread` frame. A
 * member who is not a participant gets the entry as it would be, and nothing is stored (reading
 * a thread does not follow it). The conversation's own read marker is not touched.
 */
export async function markThreadRead(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  rootId: string,
  seq: number,
  traceId?: string,
): Promise<ThreadEntry> {
  return deps.db.transaction(async (tx) => {
    const { conversation: conv } = await readableConversation(tx, tenant, user, conversation);
    if (seq > conv.last_seq)
      throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${conv.last_seq}).`);
    const root = await rootOf(tx, tenant, conversation, rootId);
    const { rows } = await tx.query<{ entry: ThreadEntry; moved: boolean }>(
      `WITH prev AS (
         SELECT last_read_seq FROM thread_entries WHERE tenant_id = $1 AND user_id = $2 AND root_id = $3),
       t AS (
         UPDATE thread_entries t SET
           last_read_seq = GREATEST(t.last_read_seq, $4),
           unread_count = (SELECT count(*) FROM messages m
                            WHERE m.tenant_id = $1 AND m.thread_root = $3 AND m.seq > GREATEST(t.last_read_seq, $4)
                              AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM $2),
           version = CASE WHEN $4 > t.last_read_seq THEN nextval('inbox_version') ELSE t.version END
          WHERE t.tenant_id = $1 AND t.user_id = $2 AND t.root_id = $3
         RETURNING t.*)
       SELECT ${ENTRY_JSON} AS entry, t.last_read_seq > (SELECT last_read_seq FROM prev) AS moved
         FROM t JOIN messages r ON r.tenant_id = $1 AND r.id = $3`,
      [tenant, user, root.id, seq],
    );
    if (!rows[0]) {
      return {
        conversation_id: conversation,
        root_id: root.id,
        reply_count: root.reply_count ?? 0,
        last_reply_at: root.last_reply_at ?? null,
        last_read_seq: seq,
        unread_count: 0,
        version: 0,
      };
    }
    const { entry, moved } = rows[0];
    if (moved) {
      await tx.query(
        'INSERT INTO outbox (tenant_id, topic, payload, trace_id) VALUES ($1, $2, $3::jsonb, $4)',
        [tenant, topics.user(tenant, user), JSON.stringify({ type: 'thread', entry }), traceId ?? null],
      );
    }
    return entry;
  });
}

/**
 * A deleted reply leaves the unread of the participants who had not read it (all but its
 * sender), who get their entry as a `thread` frame — one statement. The root keeps its
 * reply_count: the deleted reply stays in the thread as "deleted", as in the main timeline.
 */
export async function forgetReply(ctx: ComposeContext, reply: Message): Promise<void> {
  const sender = reply.sender.type === 'user' ? reply.sender.user_id : null;
  await ctx.tx.query(
    `WITH t AS (
       UPDATE thread_entries t SET unread_count = GREATEST(t.unread_count - 1, 0),
              version = nextval('inbox_version')
        WHERE t.tenant_id = $1 AND t.root_id = $2 AND t.last_read_seq < $3 AND t.unread_count > 0
          AND t.user_id IS DISTINCT FROM $4
       RETURNING t.*)
     INSERT INTO outbox (tenant_id, topic, payload, trace_id)
     SELECT $1, 't:' || $1 || ':u:' || t.user_id, jsonb_build_object('type', 'thread', 'entry', ${ENTRY_JSON}), $5
       FROM t JOIN messages r ON r.tenant_id = $1 AND r.id = $2`,
    [ctx.tenant, reply.thread_root, reply.seq, sender, ctx.traceId ?? null],
  );
}
