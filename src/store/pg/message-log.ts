// The message log for PostgreSQL and PGlite (the domain's MessageLog, src/domain/message-log.ts).
//
// The room's `event` frame has two builders with one shape. A new message's is built inside
// herald_send_one / herald_send_reply (migration 016), in the statement that writes the
// message, so that a batch of sends stays one round trip; every other event's (edits, deletes,
// kind actions) in `appendEvent`, by the same SQL expression (`eventFrame`) over the value the
// log stores, and a changed message by the send's herald_message_json. One builder would take
// a SQL function both call, that is a new body for herald_send_one, which this module does not
// own. test/domain/event-frames.test.ts holds both to the protocol's frame.
import type { ConversationRow } from '../../domain/context.ts';
import type {
  InboxChange,
  MessageLog,
  SendFailure,
  SendOutcome,
  SendSpec,
} from '../../domain/message-log.ts';
import type { Row, Sql } from '../../domain/ports.ts';
import {
  type ConversationEvent,
  HeraldError,
  type Message,
  type MessagePreview,
  type ThreadSummary,
  topics,
} from '../../protocol/index.ts';
import { toMessage } from './rows.ts';
import { inboxEntryJson, insertInboxFrames } from './sql.ts';

/**
 * The `event` frame as herald_send_one writes it (`jsonb_build_object('type', 'event', …)`),
 * from SQL expressions of the conversation, the seq and the event.
 */
const eventFrame = (conversation: string, seq: string, event: string) =>
  `jsonb_build_object('type', 'event', 'conversation', ${conversation}, 'seq', ${seq}, 'event', ${event})`;

/** Deadlock, serialization failure: nothing committed, the statement may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);

export class PgMessageLog implements MessageLog {
  constructor(private readonly sql: Sql) {}

  async lock(tenant: string, conversation: string, user: string | null): Promise<ConversationRow | null> {
    const { rows } = await this.sql.query<ConversationRow & Row>(
      `SELECT c.id, c.kind, c.title, c.audience, c.last_seq, c.member_count, m.role
         FROM conversations c
         LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
        WHERE c.tenant_id = $1 AND c.id = $2
        FOR UPDATE OF c`,
      [tenant, conversation, user],
    );
    return rows[0] ?? null;
  }

  async nextSeq(tenant: string, conversation: string): Promise<number> {
    const { rows } = await this.sql.query<{ last_seq: number }>(
      'UPDATE conversations SET last_seq = last_seq + 1 WHERE tenant_id = $1 AND id = $2 RETURNING last_seq',
      [tenant, conversation],
    );
    return rows[0].last_seq;
  }

  async appendEvent(e: {
    tenant: string;
    conversation: string;
    seq: number;
    messageId: string;
    event: ConversationEvent;
    preview?: MessagePreview;
    traceId?: string;
  }): Promise<void> {
    await this.sql.query(
      `WITH ev AS (
         INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb)),
       conv AS (
         UPDATE conversations SET last_message = COALESCE($7::jsonb, last_message),
                last_message_at = CASE WHEN $7::jsonb IS NULL THEN last_message_at ELSE now() END
          WHERE tenant_id = $1 AND id = $2)
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       VALUES ($1, $8, ${eventFrame('$2::text', '$3::bigint', '$6::jsonb')}, $9)`,
      [
        e.tenant,
        e.conversation,
        e.seq,
        e.event.type,
        e.messageId,
        JSON.stringify(e.event),
        e.preview ? JSON.stringify(e.preview) : null,
        topics.conversation(e.tenant, e.conversation),
        e.traceId ?? null,
      ],
    );
  }

  async send(specs: readonly SendSpec[]): Promise<SendOutcome[]> {
    // A named statement: parsed and planned once per connection, as every send runs it.
    const { rows } = await this.sql.query<{ r: SendOutcome }>(
      'SELECT r FROM herald_send($1::jsonb) AS r',
      [JSON.stringify(specs)],
      { name: 'herald_send' },
    );
    return rows.map(({ r }) => r);
  }

  sendFailure(err: unknown): SendFailure {
    // Only an answer from the server (a SQLSTATE) says the autocommit statement rolled back.
    // Anything else — the connection lost (STORE_UNAVAILABLE), a reply that never came —
    // leaves the outcome unknown.
    if (err instanceof HeraldError || typeof err !== 'object' || err === null) return { outcome: 'unknown' };
    const code = (err as { code?: unknown }).code;
    // A SQLSTATE: five digits or capitals, and no class starts with E — unlike Node's errno
    // codes (EPIPE, EBADF), which say nothing of the statement's fate.
    if (typeof code !== 'string' || !/^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code)) return { outcome: 'unknown' };
    return { outcome: 'rolled-back', retryable: RETRYABLE.has(code) };
  }

  async message(tenant: string, conversation: string, id: string): Promise<Message | null> {
    const { rows } = await this.sql.query(
      'SELECT * FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
      [tenant, conversation, id],
    );
    return rows[0] ? toMessage(rows[0]) : null;
  }

  async isPreview(tenant: string, conversation: string, id: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      `SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2 AND last_message->>'message_id' = $3`,
      [tenant, conversation, id],
    );
    return rows.length > 0;
  }

  // The changed message is built by herald_message_json, as a send's is: a message's created
  // and edited events carry one shape.
  async edit(tenant: string, conversation: string, id: string, body: string): Promise<Message> {
    const { rows } = await this.sql.query<{ m: Message }>(
      `UPDATE messages m SET body = $4, edited_at = now()
        WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING herald_message_json(m) AS m`,
      [tenant, conversation, id, body],
    );
    return rows[0].m;
  }

  async erase(tenant: string, conversation: string, id: string): Promise<Message> {
    const { rows } = await this.sql.query<{ m: Message }>(
      `UPDATE messages m SET body = '', attachments = '[]', mentions = '{}', deleted_at = now()
        WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3 RETURNING herald_message_json(m) AS m`,
      [tenant, conversation, id],
    );
    return rows[0].m;
  }

  // Outbox rows live only for the relay's retention window, so the scan is bounded by that;
  // deletes are rare.
  async eraseCopies(tenant: string, conversation: string, erased: Message): Promise<void> {
    await this.sql.query(
      `WITH ev AS (
         UPDATE events SET payload = jsonb_set(payload, '{message}', $4::jsonb)
          WHERE tenant_id = $1 AND conversation_id = $2 AND seq >= $5 AND message_id = $3
            AND type IN ('message.created', 'message.edited'))
       UPDATE outbox SET payload = CASE
           WHEN payload->'event'->'message'->>'id' = $3 THEN jsonb_set(payload, '{event,message}', $4::jsonb)
           ELSE jsonb_set(payload, '{entry,last_message,body}', '""'::jsonb) END
        WHERE tenant_id = $1 AND created_at >= $6::timestamptz
          AND (payload->'event'->'message'->>'id' = $3 OR payload->'entry'->'last_message'->>'message_id' = $3)`,
      [tenant, conversation, erased.id, JSON.stringify(erased), erased.seq, erased.created_at],
    );
  }

  async uncountReply(tenant: string, root: string): Promise<ThreadSummary> {
    const { rows } = await this.sql.query<{ t: ThreadSummary }>(
      `UPDATE messages SET reply_count = GREATEST(reply_count - 1, 0)
        WHERE tenant_id = $1 AND id = $2
       RETURNING jsonb_build_object('root_id', id, 'reply_count', reply_count,
                                    'last_reply_at', herald_ts(last_reply_at)) AS t`,
      [tenant, root],
    );
    return rows[0].t;
  }

  async refreshInboxes(c: InboxChange): Promise<void> {
    await this.sql.query(
      `WITH up AS (
         UPDATE inbox_entries e SET
           unread_count = CASE WHEN NOT $9 AND $4 AND e.last_read_seq < $5 AND e.user_id IS DISTINCT FROM $6
                               THEN GREATEST(e.unread_count - 1, 0) ELSE e.unread_count END,
           mention_count = CASE WHEN $4 AND e.last_read_seq < $5 AND e.user_id = ANY($7::text[])
                                THEN GREATEST(e.mention_count - 1, 0) ELSE e.mention_count END,
           version = nextval('inbox_version')
          WHERE e.tenant_id = $1 AND e.conversation_id = $2 AND ($3 OR ($4 AND e.last_read_seq < $5))
            AND (NOT $9 OR e.user_id = ANY($7::text[]))
         RETURNING e.*)
       ${insertInboxFrames({
         tenant: '$1',
         from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
         entry: inboxEntryJson(c.largeThreshold),
         trace: '$8',
       })}`,
      [
        c.tenant,
        c.conversation,
        c.previewChanged,
        c.removed?.counted ?? false,
        c.removed?.seq ?? 0,
        c.removed?.sender ?? null,
        c.removed?.mentions ?? [],
        c.traceId ?? null,
        c.large,
      ],
    );
  }
}
