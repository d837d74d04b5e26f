// The caller's flags on their own recipient state (archive, mute, pin an inbox entry; read,
// dismiss… a notice), which touch only the caller's own rows. Listing and syncing the inbox
// and notices is the store's RecipientStateReader (read-ports.ts). Sql port only; every
// statement filters by tenant.
import type { InboxEntry, Notice } from '../protocol/index.ts';
import { HeraldError, topics } from '../protocol/index.ts';
import type { Sql } from './ports.ts';
import { inboxEntryJson, insertInboxFrames, lockEntrySql, NOTICE_JSON } from './rows.ts';

export interface InboxFlags {
  archived?: boolean;
  muted?: boolean;
  pinned?: boolean;
}

/**
 * Sets the caller's own flags on one inbox entry, bumps its version and
 * writes the `inbox` frame to the caller's personal topic — one statement.
 * Call inside a transaction after readableConversation.
 */
export async function updateInboxEntry(
  sql: Sql,
  tenant: string,
  user: string,
  conversation: string,
  flags: InboxFlags,
  largeThreshold: number,
  traceId?: string,
): Promise<InboxEntry> {
  // The row lock first, in its own statement: the write below then sees any send that held it.
  await sql.query(lockEntrySql('$1', '$2', '$3'), [tenant, user, conversation]);
  const { rows } = await sql.query<{ entry: InboxEntry }>(
    `WITH up AS (
       INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, archived, muted, pinned)
       VALUES ($1, $2, $3, COALESCE($4, false), COALESCE($5, false), COALESCE($6, false))
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
         archived = COALESCE($4, e.archived), muted = COALESCE($5, e.muted), pinned = COALESCE($6, e.pinned),
         version = nextval('inbox_version')
       RETURNING e.*),
     j AS (
       SELECT ${inboxEntryJson(largeThreshold)} AS entry
         FROM up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3),
     ob AS (
       ${insertInboxFrames({
         tenant: '$1',
         from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3',
         entry: inboxEntryJson(largeThreshold),
         trace: '$7',
       })})
     SELECT entry FROM j`,
    [
      tenant,
      user,
      conversation,
      flags.archived ?? null,
      flags.muted ?? null,
      flags.pinned ?? null,
      traceId ?? null,
    ],
  );
  return rows[0].entry;
}

export interface NoticeFlags {
  read?: boolean;
  archived?: boolean;
  dismissed?: boolean;
  escalated?: boolean;
}

/** Sets the caller's flags on their copy of a notice and writes the `notice` frame — one statement. */
export async function updateNoticeEntry(
  sql: Sql,
  tenant: string,
  user: string,
  notice: string,
  flags: NoticeFlags,
  traceId?: string,
): Promise<Notice> {
  const { rows } = await sql.query<{ notice: Notice }>(
    `WITH up AS (
       UPDATE notice_entries SET read = COALESCE($4, read), archived = COALESCE($5, archived),
              dismissed = COALESCE($6, dismissed), escalated = COALESCE($7, escalated),
              version = nextval('inbox_version')
        WHERE tenant_id = $1 AND user_id = $2 AND notice_id = $3 RETURNING *),
     j AS (
       SELECT ${NOTICE_JSON} AS notice FROM up ne JOIN notices n ON n.tenant_id = $1 AND n.id = ne.notice_id),
     ob AS (
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, $8, jsonb_build_object('type', 'notice', 'notice', j.notice), $9 FROM j)
     SELECT notice FROM j`,
    [
      tenant,
      user,
      notice,
      flags.read ?? null,
      flags.archived ?? null,
      flags.dismissed ?? null,
      flags.escalated ?? null,
      topics.user(tenant, user),
      traceId ?? null,
    ],
  );
  if (!rows[0]) throw new HeraldError('NOTICE_NOT_FOUND');
  return rows[0].notice;
}
