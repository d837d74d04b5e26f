// The caller's flags on their own copy of a notice (read, dismiss…), which touch only the
// caller's own rows; an inbox entry's flags (archive, mute, pin) decide nothing beyond access
// and go straight to InboxProjection.setFlags (the use case). Listing and syncing the inbox and
// notices is the store's RecipientStateReader (read-ports.ts).
import type { Notice } from '../protocol/index.ts';
import { HeraldError } from '../protocol/index.ts';
import type { InboxProjection, NoticeFlags } from './inbox-projection.ts';

export type { InboxFlags, NoticeFlags } from './inbox-projection.ts';

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
