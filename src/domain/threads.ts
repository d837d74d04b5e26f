// Threads, read side and the thread read marker. A reply is written by the send path
// (`thread_root` in the message input; herald_send_reply, migration 016); this module lists a
// thread's replies and a user's thread entries (through the store's ThreadReader, after the
// access check), and moves a user's read marker of one thread.
// Threads are one level: a reply to a reply joins its root's thread, so a reply's id names
// the same thread as its root's.
import { HeraldError, type Message, type ThreadEntry, topics } from '../protocol/index.ts';
import { readableConversation } from './access.ts';
import type { DomainDeps } from './commands.ts';
import type { ComposeContext } from './compose.ts';
import type { Page, Reads, ThreadReader } from './read-ports.ts';
import { THREAD_ENTRY_JSON as ENTRY_JSON } from './rows.ts';

/** The root of the thread `id` names in `conversation` (its own id, or a reply's root); MESSAGE_NOT_FOUND. */
async function rootOf(
  threads: ThreadReader,
  tenant: string,
  conversation: string,
  id: string,
): Promise<Message> {
  const root = await threads.root(tenant, conversation, id);
  if (!root) throw new HeraldError('MESSAGE_NOT_FOUND');
  return root;
}

/**
 * A thread's replies by keyset on seq (as the main timeline pages: no bound gives the newest
 * page, pages ascend), with its root. Members only (readers of the conversation).
 */
export async function listThread(
  reads: Reads,
  tenant: string,
  user: string,
  conversation: string,
  rootId: string,
  page: Page,
): Promise<{ root: Message; messages: Message[]; has_more: boolean }> {
  await readableConversation(reads.conversations, tenant, user, conversation);
  const root = await rootOf(reads.threads, tenant, conversation, rootId);
  return { root, ...(await reads.threads.replies(tenant, root.id, page)) };
}

/** The caller's thread entries of a conversation, most recent reply first (unread badges). */
export async function listThreadEntries(
  reads: Reads,
  tenant: string,
  user: string,
  conversation: string,
  limit: number,
  /** Only this thread's entry (a root's id). */
  rootId?: string,
): Promise<ThreadEntry[]> {
  await readableConversation(reads.conversations, tenant, user, conversation);
  return reads.threads.entries(tenant, user, conversation, limit, rootId);
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
    const reads = deps.reads(tx);
    const { conversation: conv } = await readableConversation(
      reads.conversations,
      tenant,
      user,
      conversation,
    );
    if (seq > conv.last_seq)
      throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${conv.last_seq}).`);
    const root = await rootOf(reads.threads, tenant, conversation, rootId);
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
