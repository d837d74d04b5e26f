// Conversations and membership for PostgreSQL and PGlite (the domain's ConversationStore,
// src/domain/conversation-store.ts). A membership change is one statement however many users
// it touches: the member rows, member_count, tombstones, inbox entries and their `inbox` frames
// are CTEs of it (guard tests count the statements).
import type { ConversationStore, NewConversation } from '../../domain/conversation-store.ts';
import type { Sql } from '../../domain/ports.ts';
import type { MemberRole } from '../../protocol/index.ts';
import { inboxEntryJson, insertInboxFrames, TOMBSTONE_JSON } from './sql.ts';

/** The users of `users` the tenant has: the one lookup membership, direct pairs and notices share. */
export async function knownUsers(sql: Sql, tenant: string, users: readonly string[]): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    'SELECT id FROM users WHERE tenant_id = $1 AND id = ANY($2::text[])',
    [tenant, users],
  );
  return rows.map((r) => r.id);
}

export class PgConversationStore implements ConversationStore {
  constructor(private readonly sql: Sql) {}

  knownUsers(tenant: string, users: readonly string[]): Promise<string[]> {
    return knownUsers(this.sql, tenant, users);
  }

  async create(c: NewConversation): Promise<void> {
    await this.sql.query(
      `INSERT INTO conversations (tenant_id, id, kind, title, created_by, audience)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [c.tenant, c.id, c.kind, c.title, c.createdBy, c.audience],
    );
  }

  async addMembers(m: {
    tenant: string;
    conversation: string;
    users: readonly string[];
    role: MemberRole;
    largeThreshold: number;
    traceId?: string;
  }): Promise<string[]> {
    // A rejoin clears the user's tombstone: the new entry (newer version) supersedes it.
    const { rows } = await this.sql.query<{ user_id: string }>(
      `WITH added AS (
         INSERT INTO members (tenant_id, conversation_id, user_id, role)
         SELECT $1, $2, u, $4 FROM unnest($3::text[]) AS u
         ON CONFLICT DO NOTHING RETURNING user_id),
       cnt AS (
         UPDATE conversations SET member_count = member_count + (SELECT count(*) FROM added)
          WHERE tenant_id = $1 AND id = $2 RETURNING last_seq),
       tomb AS (
         DELETE FROM inbox_tombstones WHERE tenant_id = $1 AND conversation_id = $2
            AND user_id IN (SELECT user_id FROM added)),
       inbox AS (
         INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_read_seq)
         SELECT $1, a.user_id, $2, cnt.last_seq FROM added a, cnt
         ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET version = nextval('inbox_version')
         RETURNING e.*),
       frames AS (
         ${insertInboxFrames({
           tenant: '$1',
           from: 'inbox e JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
           entry: inboxEntryJson(m.largeThreshold),
           trace: '$5',
         })})
       SELECT user_id FROM added`,
      [m.tenant, m.conversation, m.users, m.role, m.traceId ?? null],
    );
    return rows.map((r) => r.user_id);
  }

  async removeMember(tenant: string, conversation: string, user: string, traceId?: string): Promise<boolean> {
    const { rows } = await this.sql.query(
      `WITH gone AS (
         DELETE FROM members WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = $3 RETURNING user_id),
       cnt AS (
         UPDATE conversations SET member_count = member_count - (SELECT count(*) FROM gone)
          WHERE tenant_id = $1 AND id = $2 RETURNING last_seq),
       inbox AS (
         DELETE FROM inbox_entries WHERE tenant_id = $1 AND conversation_id = $2
            AND user_id IN (SELECT user_id FROM gone)),
       tomb AS (
         INSERT INTO inbox_tombstones AS t (tenant_id, user_id, conversation_id, last_seq)
         SELECT $1, g.user_id, $2, cnt.last_seq FROM gone g, cnt
         ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
           last_seq = EXCLUDED.last_seq, removed_at = now(), version = nextval('inbox_version')
         RETURNING t.*),
       frames AS (
         ${insertInboxFrames({
           tenant: '$1',
           from: 'tomb t JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
           entry: TOMBSTONE_JSON,
           trace: '$4',
           user: 't.user_id',
         })})
       SELECT user_id FROM gone`,
      [tenant, conversation, user, traceId ?? null],
    );
    return rows.length > 0;
  }

  async openDirect(d: {
    tenant: string;
    id: string;
    key: string;
    createdBy: string;
    users: readonly [string, string];
  }): Promise<string | null> {
    // Concurrent first sends race on the unique key: the loser inserts nothing, and its snapshot
    // may predate the winner's commit (then this finds no row: null).
    const { rows } = await this.sql.query<{ id: string }>(
      `WITH ins AS (
         INSERT INTO conversations (tenant_id, id, kind, direct_key, created_by, member_count)
         VALUES ($1, $2, 'direct', $3, $4, 2)
         ON CONFLICT (tenant_id, direct_key) DO NOTHING RETURNING id),
       mem AS (
         INSERT INTO members (tenant_id, conversation_id, user_id)
         SELECT $1, ins.id, u FROM ins, unnest($5::text[]) AS u),
       inbox AS (
         INSERT INTO inbox_entries (tenant_id, user_id, conversation_id)
         SELECT $1, u, ins.id FROM ins, unnest($5::text[]) AS u)
       SELECT id FROM ins
       UNION ALL
       SELECT id FROM conversations WHERE tenant_id = $1 AND direct_key = $3`,
      [d.tenant, d.id, d.key, d.createdBy, d.users],
    );
    return rows[0]?.id ?? null;
  }

  async directByKey(tenant: string, key: string): Promise<string | null> {
    const { rows } = await this.sql.query<{ id: string }>(
      'SELECT id FROM conversations WHERE tenant_id = $1 AND direct_key = $2',
      [tenant, key],
    );
    return rows[0]?.id ?? null;
  }

  async sentWithClientId(
    tenant: string,
    sender: string,
    clientId: string,
  ): Promise<{ conversation: string; directKey: string | null } | null> {
    const { rows } = await this.sql.query<{ id: string; direct_key: string | null }>(
      `SELECT c.id, c.direct_key FROM messages m
         JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
        WHERE m.tenant_id = $1 AND m.sender_id = $2 AND m.client_id = $3`,
      [tenant, sender, clientId],
    );
    return rows[0] ? { conversation: rows[0].id, directKey: rows[0].direct_key } : null;
  }
}
