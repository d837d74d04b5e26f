// The caller's flags on their own recipient state (archive, mute, pin an inbox entry; read,
// dismiss… a notice), which touch only the caller's own rows. Listing and syncing the inbox
// and notices is the store's RecipientStateReader (read-ports.ts); the writes are its
// InboxProjection (inbox-projection.ts), bound to the caller's transaction or connection.
import type { InboxEntry, Notice } from '../protocol/index.ts';
import { HeraldError } from '../protocol/index.ts';
import type { InboxFlags, InboxProjection, NoticeFlags } from './inbox-projection.ts';

export type { InboxFlags, NoticeFlags } from './inbox-projection.ts';

/**
 * Sets the caller's own flags on one inbox entry, bumps its version and writes the `inbox`
 * frame to the caller's personal topic (the row lock, then one statement). Call inside a
 * transaction after readableConversation, with the projection bound to it.
 */
export function updateInboxEntry(
  projection: InboxProjection,
  tenant: string,
  user: string,
  conversation: string,
  flags: InboxFlags,
  largeThreshold: number,
  traceId?: string,
): Promise<InboxEntry> {
  return projection.setFlags(tenant, user, conversation, flags, largeThreshold, traceId);
}

/** Sets the caller's flags on their copy of a notice and writes the `notice` frame — one statement. */
export async function updateNoticeEntry(
  projection: InboxProjection,
  tenant: string,
  user: string,
  notice: string,
  flags: NoticeFlags,
  traceId?: string,
): Promise<Notice> {
  const updated = await projection.setNoticeFlags(tenant, user, notice, flags, traceId);
  // Another user's copy is not found either: the caller flags only their own.
  if (!updated) throw new HeraldError('NOTICE_NOT_FOUND');
  return updated;
}
