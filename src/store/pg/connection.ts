// What the gateway reads to serve a connection besides a conversation's events: the tenant's
// origins for the handshake, member ids for a presence snapshot, and channel sizes for the
// large-channel inbox hints (the memberships' read is a named prepared statement: it runs on
// every connect). The statements the gateway ran itself before, same text.
import type { Sql } from '../../domain/ports.ts';
import type { ConnectionReader } from '../../domain/read-ports.ts';

export class PgConnectionReader implements ConnectionReader {
  constructor(private readonly sql: Sql) {}

  async origins(tenant: string): Promise<string[] | null> {
    const { rows } = await this.sql.query<{ allowed_origins: string[] }>(
      'SELECT allowed_origins FROM tenants WHERE id = $1',
      [tenant],
    );
    return rows[0] ? rows[0].allowed_origins : null;
  }

  async memberIds(tenant: string, conversation: string, limit: number): Promise<string[]> {
    const { rows } = await this.sql.query<{ user_id: string }>(
      'SELECT user_id FROM members WHERE tenant_id = $1 AND conversation_id = $2 LIMIT $3',
      [tenant, conversation, limit],
    );
    return rows.map((r) => r.user_id);
  }

  async channelMemberships(tenant: string, user: string, threshold: number) {
    const { rows } = await this.sql.query<{ id: string; large: boolean }>(
      `SELECT c.id, c.member_count > $3 AS large
       FROM members m JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
      WHERE m.tenant_id = $1 AND m.user_id = $2 AND c.kind = 'channel'`,
      [tenant, user, threshold],
      { name: 'herald_channel_memberships' },
    );
    return rows.map((r) => ({ conversation: r.id, large: r.large === true }));
  }

  async largeChannelsAmong(tenant: string, ids: readonly string[], threshold: number): Promise<Set<string>> {
    const { rows } = await this.sql.query<{ id: string }>(
      `SELECT id FROM conversations
      WHERE tenant_id = $1 AND id = ANY($2::text[]) AND kind = 'channel' AND member_count > $3`,
      [tenant, ids, threshold],
    );
    return new Set(rows.map((r) => r.id));
  }
}
