// The recipient-state writes for PostgreSQL and PGlite (one SQL for both): read and delivery
// markers, recounts, inbox and notice flags, thread read markers (the domain's InboxProjection,
// src/domain/inbox-projection.ts). Bulk where it can be: a recount or a forgotten reply is one
// statement for every entry it touches, and each frame goes to the outbox in the statement that
// wrote the row it carries, or right after it (guard tests count the statements).
import type {
  DeliveredRow,
  InboxFlags,
  InboxProjection,
  NoticeFlags,
  ReadTarget,
  ReceiptFrame,
} from '../../domain/inbox-projection.ts';
import type { Sql } from '../../domain/ports.ts';
import { type InboxEntry, type Notice, type ThreadEntry, topics } from '../../protocol/index.ts';
import {
  DELIVERED_SQL,
  THREAD_ENTRY_JSON as ENTRY_JSON,
  inboxEntryJson,
  insertInboxFrames,
  lockEntrySql,
  mayReadSql,
  NOTICE_JSON,
  recountSql,
} from './sql.ts';

export class PgInboxProjection implements InboxProjection {
  constructor(private readonly sql: Sql) {}

  async lockForRead(tenant: string, user: string, conversation: string): Promise<ReadTarget | null> {
    const { rows } = await this.sql.query<ReadTarget>(
      // Also takes the entry's row lock (see lockEntrySql): the upsert of advanceRead then runs
      // on a snapshot that holds every send that had the row locked before us.
      `SELECT c.last_seq, c.kind, c.audience, m.role,
              (${lockEntrySql('$1', '$3', '$2')}) AS locked
         FROM conversations c
         LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
        WHERE c.tenant_id = $1 AND c.id = $2`,
      [tenant, conversation, user],
    );
    return rows[0] ?? null;
  }

  async advanceRead(tenant: string, user: string, conversation: string, seq: number, largeThreshold: number) {
    const counts = recountSql({
      tenant: '$1',
      conversation: '$3',
      user: '$2',
      after: 'GREATEST(e.last_read_seq, EXCLUDED.last_read_seq)',
    });
    const { rows } = await this.sql.query<{ entry: InboxEntry; moved: boolean; delivered: string }>(
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
       SELECT ${inboxEntryJson(largeThreshold)} AS entry,
              e.last_read_seq > COALESCE((SELECT last_read_seq FROM prev), -1) AS moved,
              e.last_delivered_seq AS delivered
         FROM up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $3`,
      [tenant, user, conversation, seq],
    );
    const { entry, moved, delivered } = rows[0];
    return { entry, moved, delivered_seq: Number(delivered) };
  }

  async publishRead(
    tenant: string,
    user: string,
    conversation: string,
    receipt: ReceiptFrame,
    entry: InboxEntry,
    traceId?: string,
  ): Promise<void> {
    await this.sql.query(
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

  async recount(
    tenant: string,
    conversation: string,
    largeThreshold: number,
    traceId?: string,
  ): Promise<void> {
    const counts = recountSql({
      tenant: '$1',
      conversation: '$2',
      user: 'e.user_id',
      after: 'e.last_read_seq',
    });
    await this.sql.query(
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
       entry: inboxEntryJson(largeThreshold),
       trace: '$3',
     })}`,
      [tenant, conversation, traceId ?? null],
    );
  }

  async advanceDelivered(
    tenant: string,
    user: string,
    conversation: string,
    seq: number,
    detailMax: number,
    traceId?: string,
  ): Promise<DeliveredRow> {
    // The upsert runs only for a reader allowed to see the conversation and a seq within the
    // head; its WHERE leaves a marker that is already there (or implied by the read marker)
    // untouched, so repeated and late acks write nothing.
    const { rows } = await this.sql.query<{
      found: boolean;
      allowed: boolean;
      last_seq: string;
      moved: boolean;
      delivered: string | null;
      read: string | null;
    }>(
      `WITH c AS (
       SELECT c.last_seq, c.member_count,
              ${mayReadSql('c', 'm')} AS allowed
         FROM conversations c
         LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
        WHERE c.tenant_id = $1 AND c.id = $2),
     up AS (
       INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_delivered_seq)
       SELECT $1, $3, $2, $4::bigint FROM c WHERE c.allowed AND $4::bigint <= c.last_seq AND $4::bigint > 0
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET last_delivered_seq = EXCLUDED.last_delivered_seq
        WHERE GREATEST(e.last_delivered_seq, e.last_read_seq) < EXCLUDED.last_delivered_seq
       RETURNING e.last_delivered_seq, e.last_read_seq),
     ob AS (
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, $5, jsonb_build_object('type', 'receipt', 'conversation', $2::text, 'user_id', $3::text,
                                         'seq', up.last_read_seq, 'delivered_seq', up.last_delivered_seq), $6
         FROM up, c WHERE c.member_count <= $7)
     SELECT EXISTS (SELECT 1 FROM c) AS found, COALESCE((SELECT allowed FROM c), false) AS allowed,
            (SELECT last_seq FROM c) AS last_seq, EXISTS (SELECT 1 FROM up) AS moved,
            (SELECT ${DELIVERED_SQL} FROM inbox_entries e
              WHERE e.tenant_id = $1 AND e.user_id = $3 AND e.conversation_id = $2) AS delivered,
            (SELECT e.last_read_seq FROM inbox_entries e
              WHERE e.tenant_id = $1 AND e.user_id = $3 AND e.conversation_id = $2) AS read`,
      [
        tenant,
        conversation,
        user,
        seq,
        topics.conversation(tenant, conversation),
        traceId ?? null,
        detailMax,
      ],
    );
    const r = rows[0];
    return {
      found: r.found,
      allowed: r.allowed,
      last_seq: Number(r.last_seq),
      moved: r.moved,
      // The outer SELECT sees the snapshot from before the upsert.
      delivered_before: r.delivered == null ? null : Number(r.delivered),
      read_seq: r.read == null ? null : Number(r.read),
    };
  }

  async setFlags(
    tenant: string,
    user: string,
    conversation: string,
    flags: InboxFlags,
    largeThreshold: number,
    traceId?: string,
  ): Promise<InboxEntry> {
    // The row lock first, in its own statement: the write below then sees any send that held it.
    await this.sql.query(lockEntrySql('$1', '$2', '$3'), [tenant, user, conversation]);
    const { rows } = await this.sql.query<{ entry: InboxEntry }>(
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

  async setNoticeFlags(
    tenant: string,
    user: string,
    notice: string,
    flags: NoticeFlags,
    traceId?: string,
  ): Promise<Notice | null> {
    const { rows } = await this.sql.query<{ notice: Notice }>(
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
    return rows[0]?.notice ?? null;
  }

  async advanceThreadRead(tenant: string, user: string, rootId: string, seq: number) {
    const { rows } = await this.sql.query<{ entry: ThreadEntry; moved: boolean }>(
      `WITH prev AS (
         SELECT last_read_seq FROM thread_entries WHERE tenant_id = $1 AND user_id = $2 AND root_id = $3),
       t AS (
         UPDATE thread_entries t SET
           last_read_seq = GREATEST(t.last_read_seq, $4),
           unread_count = (SELECT count(*) FROM messages m
                            WHERE m.tenant_id = $1 AND m.thread_root = $3 AND m.seq > GREATEST(t.last_read_seq, $4)
                              AND m.deleted_at IS NULL AND m.sender_id IS DISTINCT FROM $2),
           version = CASE WHEN $4 > t.last_read_seq THEN nextval('inbox_version') ELSE t.version END
          WHERE t.tenant_id = $1 AND t.user_id = $2 AND t.root_id = $3
         RETURNING t.*)
       SELECT ${ENTRY_JSON} AS entry, t.last_read_seq > (SELECT last_read_seq FROM prev) AS moved
         FROM t JOIN messages r ON r.tenant_id = $1 AND r.id = $3`,
      [tenant, user, rootId, seq],
    );
    return rows[0] ?? null;
  }

  async publishThread(tenant: string, user: string, entry: ThreadEntry, traceId?: string): Promise<void> {
    await this.sql.query(
      'INSERT INTO outbox (tenant_id, topic, payload, trace_id) VALUES ($1, $2, $3::jsonb, $4)',
      [tenant, topics.user(tenant, user), JSON.stringify({ type: 'thread', entry }), traceId ?? null],
    );
  }

  async forgetReply(
    tenant: string,
    rootId: string,
    replySeq: number,
    sender: string | null,
    traceId?: string,
  ): Promise<void> {
    await this.sql.query(
      `WITH t AS (
       UPDATE thread_entries t SET
              unread_count = CASE WHEN t.last_read_seq < $3 AND t.user_id IS DISTINCT FROM $4
                                  THEN GREATEST(t.unread_count - 1, 0) ELSE t.unread_count END,
              version = nextval('inbox_version')
        WHERE t.tenant_id = $1 AND t.root_id = $2
       RETURNING t.*)
     INSERT INTO outbox (tenant_id, topic, payload, trace_id)
     SELECT $1, 't:' || $1 || ':u:' || t.user_id, jsonb_build_object('type', 'thread', 'entry', ${ENTRY_JSON}), $5
       FROM t JOIN messages r ON r.tenant_id = $1 AND r.id = $2`,
      [tenant, rootId, replySeq, sender, traceId ?? null],
    );
  }
}
