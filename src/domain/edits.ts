// Edits and deletes are events in the conversation log with their own seq;
// the message row keeps the current state.
import { type Actor, HeraldError, type Message } from '../protocol/index.ts';
import type { DomainDeps } from './commands.ts';
import {
  type ComposeContext,
  type ConversationRow,
  composeContext,
  lockConversation,
  recordEvent,
  validateInput,
} from './compose.ts';
import { inboxEntryJson, insertInboxFrames, toMessage, toPreview } from './rows.ts';
import { forgetReply } from './threads.ts';

async function loadForChange(ctx: ComposeContext, conversation: string, messageId: string, actor: Actor) {
  const conv = await lockConversation(ctx, conversation, actor);
  if (actor.type === 'user' && !conv.role) throw new HeraldError('NOT_A_MEMBER');
  const { rows } = await ctx.tx.query(
    'SELECT * FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
    [ctx.tenant, conversation, messageId],
  );
  if (!rows[0]) throw new HeraldError('MESSAGE_NOT_FOUND');
  const message = toMessage(rows[0]);
  if (message.deleted_at) throw new HeraldError('MESSAGE_DELETED');
  return { conv, message };
}

async function nextSeq(ctx: ComposeContext, conversation: string): Promise<number> {
  return ctx.writes.log.nextSeq(ctx.tenant, conversation);
}

/** Preview follows the latest message: refresh it only when the changed message is that one. */
async function isLatest(ctx: ComposeContext, conversation: string, messageId: string): Promise<boolean> {
  const { rows } = await ctx.tx.query(
    `SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 AND last_message->>'message_id' = $3`,
    [ctx.tenant, conversation, messageId],
  );
  return rows.length > 0;
}

/**
 * A delete must remove the content wherever Herald stored it, not only in the message row:
 * the log's created/edited events (replayed on catch-up) now carry the deleted message, and
 * outbox frames that embed it or its preview lose the body. Outbox rows live only for the
 * relay's retention window, so the scan is bounded by that; deletes are rare.
 */
async function eraseCopies(ctx: ComposeContext, conversation: string, deleted: Message): Promise<void> {
  await ctx.tx.query(
    `WITH ev AS (
       UPDATE events SET payload = jsonb_set(payload, '{message}', $4::jsonb)
        WHERE tenant_id = $1 AND conversation_id = $2 AND seq >= $5 AND message_id = $3
          AND type IN ('message.created', 'message.edited'))
     UPDATE outbox SET payload = CASE
         WHEN payload->'event'->'message'->>'id' = $3 THEN jsonb_set(payload, '{event,message}', $4::jsonb)
         ELSE jsonb_set(payload, '{entry,last_message,body}', '""'::jsonb) END
      WHERE tenant_id = $1 AND created_at >= $6::timestamptz
        AND (payload->'event'->'message'->>'id' = $3 OR payload->'entry'->'last_message'->>'message_id' = $3)`,
    [ctx.tenant, conversation, deleted.id, JSON.stringify(deleted), deleted.seq, deleted.created_at],
  );
}

/**
 * Keeps inbox entries true after an edit or delete: a changed preview (the latest message) and
 * a deleted message that was still unread or mentioned someone both change what the inbox
 * shows, so those entries get a new version (inbox sync) and an `inbox` frame (live) — one
 * statement. Large channels are skipped: they keep O(1) writes and derive unread from seqs.
 */
async function refreshInbox(
  ctx: ComposeContext,
  conv: ConversationRow,
  change: { previewChanged: boolean; removed: Message | null },
): Promise<void> {
  // A large channel keeps O(1) writes: its unread is derived from seqs and its entries carry no
  // preview, so only a removed message's mentions are taken back, from the mentioned users' rows.
  const large = conv.member_count > ctx.limits.largeChannelThreshold;
  const removed = change.removed;
  if (large ? !removed?.mentions.length : !change.previewChanged && !removed) return;
  await ctx.tx.query(
    `WITH up AS (
       UPDATE inbox_entries e SET
         unread_count = CASE WHEN NOT $9 AND $4 AND e.last_read_seq < $5 AND e.user_id IS DISTINCT FROM $6
                             THEN GREATEST(e.unread_count - 1, 0) ELSE e.unread_count END,
         mention_count = CASE WHEN $4 AND e.last_read_seq < $5 AND e.user_id = ANY($7::text[])
                              THEN GREATEST(e.mention_count - 1, 0) ELSE e.mention_count END,
         version = nextval('inbox_version')
        WHERE e.tenant_id = $1 AND e.conversation_id = $2 AND ($3 OR ($4 AND e.last_read_seq < $5))
          AND (NOT $9 OR e.user_id = ANY($7::text[]))
       RETURNING e.*)
     ${insertInboxFrames({
       tenant: '$1',
       from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
       entry: inboxEntryJson(ctx.limits.largeChannelThreshold),
       trace: '$8',
     })}`,
    [
      ctx.tenant,
      conv.id,
      change.previewChanged && !large,
      // Only messages that counted as unread are subtracted (system messages never did).
      removed !== null && removed.kind !== 'system',
      removed?.seq ?? 0,
      removed?.sender.type === 'user' ? removed.sender.user_id : null,
      removed?.mentions ?? [],
      ctx.traceId ?? null,
      large,
    ],
  );
}

export async function editMessage(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  messageId: string,
  body: string,
  traceId?: string,
): Promise<Message> {
  validateInput({ body }, deps.limits);
  return deps.db.transaction(async (tx) => {
    const ctx = composeContext(deps, tx, tenant, traceId);
    const { conv, message } = await loadForChange(ctx, conversation, messageId, {
      type: 'user',
      user_id: user,
    });
    if (message.sender.type !== 'user' || message.sender.user_id !== user)
      throw new HeraldError('NOT_AUTHOR');
    const seq = await nextSeq(ctx, conversation);
    const { rows } = await tx.query(
      `UPDATE messages SET body = $4, edited_at = now()
        WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING *`,
      [tenant, conversation, messageId, body],
    );
    const edited = toMessage(rows[0]);
    const latest = await isLatest(ctx, conversation, messageId);
    await recordEvent(
      ctx,
      conversation,
      seq,
      messageId,
      { type: 'message.edited', message: edited },
      latest ? toPreview(edited) : undefined,
    );
    await refreshInbox(ctx, conv, { previewChanged: latest, removed: null });
    return edited;
  });
}

/** Authors delete their own messages; moderators and admins delete any in their conversation. */
export async function deleteMessage(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  messageId: string,
  traceId?: string,
): Promise<Message> {
  return deps.db.transaction(async (tx) => {
    const ctx = composeContext(deps, tx, tenant, traceId);
    const { conv, message } = await loadForChange(ctx, conversation, messageId, {
      type: 'user',
      user_id: user,
    });
    const isAuthor = message.sender.type === 'user' && message.sender.user_id === user;
    if (!isAuthor && conv.role !== 'moderator' && conv.role !== 'admin') throw new HeraldError('NOT_AUTHOR');
    const seq = await nextSeq(ctx, conversation);
    // The body is erased, not kept: a delete must remove the content.
    const { rows } = await tx.query(
      `UPDATE messages SET body = '', attachments = '[]', mentions = '{}', deleted_at = now()
        WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING *`,
      [tenant, conversation, messageId],
    );
    const deleted = toMessage(rows[0]);
    await eraseCopies(ctx, conversation, deleted);
    const latest = await isLatest(ctx, conversation, messageId);
    await recordEvent(
      ctx,
      conversation,
      seq,
      messageId,
      { type: 'message.deleted', message_id: messageId, deleted_at: deleted.deleted_at as string },
      latest ? toPreview(deleted) : undefined,
    );
    // `message` is the state before the delete: its mentions decide whose counts drop. A thread
    // reply never counted in the inbox: its participants' thread unread drops instead.
    await refreshInbox(ctx, conv, { previewChanged: latest, removed: message.thread_root ? null : message });
    if (message.thread_root) await forgetReply(deps.projection(tx), ctx, message);
    return deleted;
  });
}
