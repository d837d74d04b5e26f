// The message log for PostgreSQL and PGlite (the domain's MessageLog, src/domain/message-log.ts).
import type { ConversationRow } from '../../domain/context.ts';
import type { MessageLog } from '../../domain/message-log.ts';
import type { Row, Sql } from '../../domain/ports.ts';

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
}
