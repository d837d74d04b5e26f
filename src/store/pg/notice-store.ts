// System notices for PostgreSQL and PGlite (the domain's NoticeStore, src/domain/notice-store.ts):
// the notice, its entries and their `notice` frames in one statement, however many recipients.
import type { NoticeStore } from '../../domain/notice-store.ts';
import type { Sql } from '../../domain/ports.ts';
import { knownUsers } from './conversation-store.ts';
import { NOTICE_JSON, userTopicSql } from './sql.ts';

export class PgNoticeStore implements NoticeStore {
  constructor(private readonly sql: Sql) {}

  async tenantUsers(tenant: string): Promise<string[]> {
    const { rows } = await this.sql.query<{ id: string }>('SELECT id FROM users WHERE tenant_id = $1', [
      tenant,
    ]);
    return rows.map((r) => r.id);
  }

  knownUsers(tenant: string, users: readonly string[]): Promise<string[]> {
    return knownUsers(this.sql, tenant, users);
  }

  async send(n: {
    tenant: string;
    id: string;
    title: string;
    body: string;
    data: Record<string, unknown> | null;
    audience: 'tenant' | 'users';
    recipients: readonly string[];
    traceId?: string;
  }): Promise<void> {
    await this.sql.query(
      `WITH n AS (
         INSERT INTO notices (tenant_id, id, title, body, data, audience)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *),
       ne AS (
         INSERT INTO notice_entries (tenant_id, user_id, notice_id)
         SELECT $1, u, $2 FROM unnest($7::text[]) AS u RETURNING *)
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, ${userTopicSql('$1', 'ne.user_id')},
              jsonb_build_object('type', 'notice', 'notice', ${NOTICE_JSON}), $8
         FROM ne, n`,
      [
        n.tenant,
        n.id,
        n.title,
        n.body,
        n.data ? JSON.stringify(n.data) : null,
        n.audience,
        n.recipients,
        n.traceId ?? null,
      ],
    );
  }
}
