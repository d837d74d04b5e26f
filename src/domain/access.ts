// Who may read a conversation (its history, its live events, its receipts) and keep a read
// marker in it: its members, and every user of the tenant when it is a tenant-wide
// announcement. The one statement of the rule for every caller; its SQL form, for statements
// that decide it row by row, is the store's `mayReadSql` (src/store/pg/sql.ts), held to this
// one by test/domain/access-rule.test.ts.
import { HeraldError } from '../protocol/errors.ts';
import type { ConversationKind } from '../protocol/model.ts';
import type { ConversationReader, ConversationSeen } from './read-ports.ts';

export interface AudienceOf {
  kind: ConversationKind | string;
  audience: string;
}

/** Every user of the tenant reads it, member or not. */
export function isTenantWide(c: AudienceOf): boolean {
  return c.kind === 'announcement' && c.audience === 'tenant';
}

export function mayRead(c: AudienceOf, member: boolean): boolean {
  return member || isTenantWide(c);
}

/**
 * The conversation as `user` may see it (the store reads the row, the rule decides): members,
 * and every user of the tenant for tenant-wide announcements. Other tenants' ids are not found.
 */
export async function readableConversation(
  conversations: ConversationReader,
  tenant: string,
  user: string,
  id: string,
): Promise<ConversationSeen> {
  const seen = await conversations.seenBy(tenant, user, id);
  if (!seen) throw new HeraldError('CONVERSATION_NOT_FOUND');
  if (!mayRead({ kind: seen.conversation.kind, audience: seen.audience }, seen.role !== null))
    throw new HeraldError('NOT_A_MEMBER');
  return seen;
}
