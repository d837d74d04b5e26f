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
