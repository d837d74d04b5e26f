// The message log for PostgreSQL and PGlite (the domain's MessageLog, src/domain/message-log.ts).
import type { ConversationRow } from '../../domain/context.ts';
import type { MessageLog } from '../../domain/message-log.ts';
import type { Row, Sql } from '../../domain/ports.ts';
import { type ConversationEvent, type MessagePreview, topics } from '../../protocol/index.ts';

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
    const frame = { type: 'event', conversation: e.conversation, seq: e.seq, event: e.event };
    await this.sql.query(
      `WITH ev AS (
         INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb)),
       conv AS (
         UPDATE conversations SET last_message = COALESCE($7::jsonb, last_message),
                last_message_at = CASE WHEN $7::jsonb IS NULL THEN last_message_at ELSE now() END
          WHERE tenant_id = $1 AND id = $2)
       INSERT INTO outbox (tenant_id, topic, payload, trace_id) VALUES ($1, $8, $9::jsonb, $10)`,
      [
        e.tenant,
        e.conversation,
        e.seq,
        e.event.type,
        e.messageId,
        JSON.stringify(e.event),
        e.preview ? JSON.stringify(e.preview) : null,
        topics.conversation(e.tenant, e.conversation),
        JSON.stringify(frame),
        e.traceId ?? null,
      ],
    );
  }
}
