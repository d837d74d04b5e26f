// Threads, read side and the thread read marker. A reply is written by the send path
// (`thread_root` in the message input; herald_send_reply, migration 016); this module lists a
// thread's replies and a user's thread entries (through the store's ThreadReader, after the
// access check), and moves a user's read marker of one thread (through the store's
// InboxProjection, after the access check and the seq bound).
// Threads are one level: a reply to a reply joins its root's thread, so a reply's id names
// the same thread as its root's.
import { HeraldError, type Message, type ThreadEntry } from '../protocol/index.ts';
import { readableConversation } from './access.ts';
import type { DomainDeps } from './commands.ts';
import type { ComposeContext } from './compose.ts';
import type { InboxProjection } from './inbox-projection.ts';
import type { Page, Reads, ThreadReader } from './read-ports.ts';

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
    const projection = deps.projection(tx);
    const found = await projection.advanceThreadRead(tenant, user, root.id, seq);
    // Reading a thread does not follow it: a non-participant gets the entry as it would be.
    if (!found) {
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
    const { entry, moved } = found;
    if (moved) await projection.publishThread(tenant, user, entry, traceId);
    return entry;
  });
}

/**
 * A deleted reply leaves the unread of the participants who had not read it (all but its
 * sender); its root counts it no more (the caller took it off first), so every participant gets
 * their entry as a `thread` frame — one statement. The reply stays in the thread as "deleted",
 * as in the main timeline, but no longer counts as a reply.
 */
export async function forgetReply(
  projection: InboxProjection,
  ctx: ComposeContext,
  reply: Message,
): Promise<void> {
  if (!reply.thread_root) return;
  const sender = reply.sender.type === 'user' ? reply.sender.user_id : null;
  await projection.forgetReply(ctx.tenant, reply.thread_root, reply.seq, sender, ctx.traceId);
}
