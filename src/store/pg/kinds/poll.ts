// Polls for PostgreSQL and PGlite (the kind's PollStore, src/domain/kinds/poll.ts; tables:
// migration 015). The definition stays in the message's data; votes and closes have tables.
import type { PollStore, PollTallyRow } from '../../../domain/kinds/poll.ts';
import type { Sql } from '../../../domain/ports.ts';

export class PgPollStore implements PollStore {
  constructor(private readonly sql: Sql) {}

  async tallies(tenant: string, ids: readonly string[], viewer: string | null): Promise<PollTallyRow[]> {
    // One row per (poll, option voted for); a poll without votes has one row with option null.
    const { rows } = await this.sql.query<PollTallyRow & Record<string, unknown>>(
      `SELECT m.id AS message_id, m.data, pc.message_id IS NOT NULL AS closed,
              v.option, count(v.user_id)::int AS votes, COALESCE(bool_or(v.user_id = $3), false) AS mine
         FROM messages m
         LEFT JOIN poll_closes pc ON pc.tenant_id = m.tenant_id AND pc.message_id = m.id
         LEFT JOIN poll_votes v ON v.tenant_id = m.tenant_id AND v.message_id = m.id
        WHERE m.tenant_id = $1 AND m.id = ANY($2::text[]) AND m.data->'poll' IS NOT NULL
        GROUP BY m.id, m.data, pc.message_id, v.option`,
      [tenant, ids, viewer],
    );
    return rows;
  }

  async isClosed(tenant: string, messageId: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      'SELECT 1 FROM poll_closes WHERE tenant_id = $1 AND message_id = $2',
      [tenant, messageId],
    );
    return rows.length > 0;
  }

  async vote(tenant: string, messageId: string, user: string, option: number): Promise<boolean> {
    const { rows } = await this.sql.query(
      `INSERT INTO poll_votes AS v (tenant_id, message_id, user_id, option) VALUES ($1, $2, $3, $4)
       ON CONFLICT (tenant_id, message_id, user_id) DO UPDATE SET option = EXCLUDED.option, voted_at = now()
        WHERE v.option <> EXCLUDED.option
       RETURNING 1`,
      [tenant, messageId, user, option],
    );
    return rows.length > 0;
  }

  async close(tenant: string, messageId: string, user: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      `INSERT INTO poll_closes (tenant_id, message_id, closed_by) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING 1`,
      [tenant, messageId, user],
    );
    return rows.length > 0;
  }
}
