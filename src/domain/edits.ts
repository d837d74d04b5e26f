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
import { toPreview } from './rows.ts';
import { forgetReply } from './threads.ts';

async function loadForChange(ctx: ComposeContext, conversation: string, messageId: string, actor: Actor) {
  const conv = await lockConversation(ctx, conversation, actor);
  if (actor.type === 'user' && !conv.role) throw new HeraldError('NOT_A_MEMBER');
  const message = await ctx.writes.log.message(ctx.tenant, conversation, messageId);
  if (!message) throw new HeraldError('MESSAGE_NOT_FOUND');
  if (message.deleted_at) throw new HeraldError('MESSAGE_DELETED');
  return { conv, message };
}

/** Preview follows the latest message: refresh it only when the changed message is that one. */
function isLatest(ctx: ComposeContext, conversation: string, messageId: string): Promise<boolean> {
  return ctx.writes.log.isPreview(ctx.tenant, conversation, messageId);
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
  await ctx.writes.log.refreshInboxes({
    tenant: ctx.tenant,
    conversation: conv.id,
    previewChanged: change.previewChanged && !large,
    removed: removed && {
      seq: removed.seq,
      sender: removed.sender.type === 'user' ? removed.sender.user_id : null,
      mentions: removed.mentions,
      // Only messages that counted as unread are subtracted (system messages never did).
      counted: removed.kind !== 'system',
    },
    large,
    largeThreshold: ctx.limits.largeChannelThreshold,
    traceId: ctx.traceId,
  });
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
    const seq = await ctx.writes.log.nextSeq(tenant, conversation);
    const edited = await ctx.writes.log.edit(tenant, conversation, messageId, body);
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
    const seq = await ctx.writes.log.nextSeq(tenant, conversation);
    // The body is erased, not kept: a delete must remove the content — also wherever Herald
    // copied it (the log's created/edited events, replayed on catch-up; outbox frames).
    const deleted = await ctx.writes.log.erase(tenant, conversation, messageId);
    await ctx.writes.log.eraseCopies(tenant, conversation, deleted);
    const latest = await isLatest(ctx, conversation, messageId);
    // A deleted reply no longer counts on its root; its event carries the root's new count,
    // as a reply's own event does.
    const thread = message.thread_root
      ? await ctx.writes.log.uncountReply(tenant, message.thread_root)
      : undefined;
    await recordEvent(
      ctx,
      conversation,
      seq,
      messageId,
      {
        type: 'message.deleted',
        message_id: messageId,
        deleted_at: deleted.deleted_at as string,
        ...(thread ? { thread } : {}),
      },
      latest ? toPreview(deleted) : undefined,
    );
    // `message` is the state before the delete: its mentions decide whose counts drop. A thread
    // reply never counted in the inbox: its participants' thread unread drops instead.
    await refreshInbox(ctx, conv, { previewChanged: latest, removed: message.thread_root ? null : message });
    if (message.thread_root) await forgetReply(deps.projection(tx), ctx, message);
    return deleted;
  });
}
