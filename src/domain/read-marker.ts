// Mark-read: moves last_read_seq forward only, recomputes unread and
// mention counts from the log, and fans a receipt out to the room plus the
// reader's own inbox change to their other devices.
import { HeraldError, type InboxEntry, topics } from '../protocol/index.ts';
import { mayRead } from './access.ts';
import type { DomainDeps } from './commands.ts';
import type { ComposeContext } from './compose.ts';
import { inboxEntryJson, insertInboxFrames, lockEntrySql } from './rows.ts';

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
    const { rows: convs } = await tx.query<{
      last_seq: number;
      kind: string;
      audience: string;
      role: string | null;
    }>(
      // Also takes the entry's row lock (see lockEntrySql): the upsert below then runs on a
      // snapshot that holds every send that had the row locked before us.
      `SELECT c.last_seq, c.kind, c.audience, m.role,
              (${lockEntrySql('$1', '$3', '$2')}) AS locked
         FROM conversations c
         LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
        WHERE c.tenant_id = $1 AND c.id = $2`,
      [tenant, conversation, user],
    );
    const conv = convs[0];
    if (!conv) throw new HeraldError('CONVERSATION_NOT_FOUND');
    if (!mayRead(conv, conv.role !== null)) throw new HeraldError('NOT_A_MEMBER');
    if (seq > conv.last_seq)
      throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${conv.last_seq}).`);

    const counts = recountSql({
      tenant: '$1',
      conversation: '$3',
      user: '$2',
      after: 'GREATEST(e.last_read_seq, EXCLUDED.last_read_seq)',
    });
    const { rows } = await tx.query<{ entry: InboxEntry; moved: boolean; delivered: string }>(
      `WITH prev AS (
         SELECT last_read_seq FROM inbox_entries WHERE tenant_id = $1 AND user_id = $2 AND conversation_id = $3),
       up AS (
         INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_read_seq, last_delivered_seq)
         VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
           last_read_seq = GREATEST(e.last_read_seq, EXCLUDED.last_read_seq),
           -- Read implies delivered (docs/delivery.md).
           last_delivered_seq = GREATEST(e.last_delivered_seq, e.last_read_seq, EXCLUDED.last_read_seq),
           unread_count = ${counts.unread},
           mention_count = ${counts.mention},
           version = CASE WHEN EXCLUDED.last_read_seq > e.last_read_seq THEN nextval('inbox_version') ELSE e.version END
         RETURNING e.*)
       SELECT ${inboxEntryJson(deps.limits.largeChannelThreshold)} AS entry,
              e.last_read_seq > COALESCE((SELECT last_read_seq FROM prev), -1) AS moved,
              e.last_delivered_seq AS delivered
         FROM up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3`,
      [tenant, user, conversation, seq],
    );
    const { entry, moved } = rows[0];
    if (moved) {
      const receipt = {
        type: 'receipt',
        conversation,
        user_id: user,
        seq: entry.last_read_seq,
        delivered_seq: Number(rows[0].delivered),
      };
      await tx.query(
        `INSERT INTO outbox (tenant_id, topic, payload, trace_id)
         VALUES ($1, $2, $3::jsonb, $5), ($1, $4, $6::jsonb, $5)`,
        [
          tenant,
          topics.conversation(tenant, conversation),
          JSON.stringify(receipt),
          topics.user(tenant, user),
          traceId ?? null,
          JSON.stringify({ type: 'inbox', entry }),
        ],
      );
    }
    return { entry, moved };
  });
}

/**
 * Recomputes every entry's unread and mention counts of a conversation from the log, bumps
 * their versions and sends each member the new entry — one statement. For the rare moments a
 * conversation's stored counters cannot be trusted (a large channel becoming small again).
 */
export async function recountInbox(ctx: ComposeContext, conversation: string): Promise<void> {
  const counts = recountSql({
    tenant: '$1',
    conversation: '$2',
    user: 'e.user_id',
    after: 'e.last_read_seq',
  });
  await ctx.tx.query(
    `WITH up AS (
       UPDATE inbox_entries e SET
         unread_count = ${counts.unread},
         mention_count = ${counts.mention},
         version = nextval('inbox_version')
        WHERE e.tenant_id = $1 AND e.conversation_id = $2
       RETURNING e.*)
     ${insertInboxFrames({
       tenant: '$1',
       from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
       entry: inboxEntryJson(ctx.limits.largeChannelThreshold),
       trace: '$3',
     })}`,
    [ctx.tenant, conversation, ctx.traceId ?? null],
  );
}
