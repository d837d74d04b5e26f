// Edits and deletes are events in the conversation log with their own seq;
// the message row keeps the current state.
import { type Actor, HeraldError, type Message } from '../protocol/index.ts';
import type { DomainDeps } from './commands.ts';
import { type ComposeContext, lockConversation, recordEvent, validateInput } from './compose.ts';
import { toMessage, toPreview } from './rows.ts';

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
  const { rows } = await ctx.tx.query<{ last_seq: number }>(
    'UPDATE conversations SET last_seq = last_seq + 1 WHERE tenant_id = $1 AND id = $2 RETURNING last_seq',
    [ctx.tenant, conversation],
  );
  return rows[0].last_seq;
}

/** Preview follows the latest message: refresh it only when the changed message is that one. */
async function isLatest(ctx: ComposeContext, conversation: string, messageId: string): Promise<boolean> {
  const { rows } = await ctx.tx.query(
    `SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 AND last_message->>'message_id' = $3`,
    [ctx.tenant, conversation, messageId],
  );
  return rows.length > 0;
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
    const ctx: ComposeContext = { tx, tenant, limits: deps.limits, viewing: deps.viewing, traceId };
    const { message } = await loadForChange(ctx, conversation, messageId, { type: 'user', user_id: user });
    if (message.sender.type !== 'user' || message.sender.user_id !== user) throw new HeraldError('NOT_AUTHOR');
    const seq = await nextSeq(ctx, conversation);
    const { rows } = await tx.query(
      `UPDATE messages SET body = $4, edited_at = now()
        WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING *`,
      [tenant, conversation, messageId, body],
    );
    const edited = toMessage(rows[0]);
    const latest = await isLatest(ctx, conversation, messageId);
    await recordEvent(ctx, conversation, seq, messageId, { type: 'message.edited', message: edited }, latest ? toPreview(edited) : undefined);
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
    const ctx: ComposeContext = { tx, tenant, limits: deps.limits, viewing: deps.viewing, traceId };
    const { conv, message } = await loadForChange(ctx, conversation, messageId, { type: 'user', user_id: user });
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
    const latest = await isLatest(ctx, conversation, messageId);
    await recordEvent(
      ctx,
      conversation,
      seq,
      messageId,
      { type: 'message.deleted', message_id: messageId, deleted_at: deleted.deleted_at as string },
      latest ? toPreview(deleted) : undefined,
    );
    return deleted;
  });
}
