// Mark-read: moves last_read_seq forward only, recomputes unread and
// mention counts from the log, and fans a receipt out to the room plus the
// reader's own inbox change to their other devices. The store's InboxProjection
// (inbox-projection.ts) writes; this module decides on the seq, access and whether to tell.
import { HeraldError, type InboxEntry } from '../protocol/index.ts';
import { mayRead } from './access.ts';
import type { DomainDeps } from './commands.ts';
import type { ReceiptFrame } from './inbox-projection.ts';

/** Counting stops here: a badge shows "999+" long before exact counts matter. */
export const COUNT_CAP = 999;

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

export async function markRead(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  seq: number,
  traceId?: string,
): Promise<{ entry: InboxEntry; moved: boolean }> {
  if (!Number.isInteger(seq) || seq < 0)
    throw new HeraldError('VALIDATION_FAILED', 'seq must be a non-negative integer.');
  return deps.db.transaction(async (tx) => {
    const projection = deps.projection(tx);
    // Takes the entry's row lock too: the write below sees every send that held it.
    const conv = await projection.lockForRead(tenant, user, conversation);
    if (!conv) throw new HeraldError('CONVERSATION_NOT_FOUND');
    if (!mayRead(conv, conv.role !== null)) throw new HeraldError('NOT_A_MEMBER');
    if (seq > conv.last_seq)
      throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${conv.last_seq}).`);
    const { entry, moved, delivered_seq } = await projection.advanceRead(
      tenant,
      user,
      conversation,
      seq,
      deps.limits.largeChannelThreshold,
    );
    // Only a marker that moved tells the room and the reader's other devices.
    if (moved) {
      const receipt: ReceiptFrame = {
        type: 'receipt',
        conversation,
        user_id: user,
        seq: entry.last_read_seq,
        delivered_seq,
      };
      await projection.publishRead(tenant, user, conversation, receipt, entry, traceId);
    }
    return { entry, moved };
  });
}
