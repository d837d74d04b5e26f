// Reactions for PostgreSQL and PGlite (the kind's ReactionStore, src/domain/kinds/reactions.ts;
// table: migration 014).
import type { ReactionCountRow, ReactionStore } from '../../../domain/kinds/reactions.ts';
import type { Sql } from '../../../domain/ports.ts';

export class PgReactionStore implements ReactionStore {
  constructor(private readonly sql: Sql) {}

  async counts(tenant: string, ids: readonly string[], viewer: string | null): Promise<ReactionCountRow[]> {
    const { rows } = await this.sql.query<ReactionCountRow & Record<string, unknown>>(
      `SELECT message_id, emoji, count(*)::int AS count, bool_or(user_id = $3) AS me
         FROM reactions WHERE tenant_id = $1 AND message_id = ANY($2::text[])
        GROUP BY message_id, emoji ORDER BY message_id, min(created_at), emoji`,
      [tenant, ids, viewer],
    );
    return rows;
  }

  async add(tenant: string, messageId: string, user: string, emoji: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      `INSERT INTO reactions (tenant_id, message_id, user_id, emoji) VALUES ($1, $2, $3, $4)
       ON CONFLICT DO NOTHING RETURNING 1`,
      [tenant, messageId, user, emoji],
    );
    return rows.length > 0;
  }

  async remove(tenant: string, messageId: string, user: string, emoji: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      'DELETE FROM reactions WHERE tenant_id = $1 AND message_id = $2 AND user_id = $3 AND emoji = $4 RETURNING 1',
      [tenant, messageId, user, emoji],
    );
    return rows.length > 0;
  }
}
