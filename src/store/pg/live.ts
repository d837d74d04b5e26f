// What the gateway reads to deliver a conversation live: the access row, a subscribe's one
// statement (access and replay in one snapshot, a named prepared statement: it runs on every
// subscribe), and a replay. Payloads come back as their stored JSON text, never re-serialized.
import type { Sql } from '../../domain/ports.ts';
import type { AccessRow, LiveReader, StoredEvent } from '../../domain/read-ports.ts';
import { mayReadSql } from './sql.ts';

type EventRow = { seq: number | null; payload: string | null };

export class PgLiveReader implements LiveReader {
  constructor(private readonly sql: Sql) {}

  async access(tenant: string, conversation: string, user: string): Promise<AccessRow | null> {
    const { rows } = await this.sql.query<AccessRow>(
      `SELECT c.kind, c.audience, c.member_count, c.last_seq, (m.user_id IS NOT NULL) AS member
       FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2`,
      [tenant, conversation, user],
    );
    return rows[0] ? accessRow(rows[0]) : null;
  }

  async subscribe(tenant: string, conversation: string, user: string, since: number | null, limit: number) {
    const { rows } = await this.sql.query<AccessRow & EventRow>(
      `SELECT c.kind, c.audience, c.member_count, c.last_seq, (m.user_id IS NOT NULL) AS member, e.seq, e.payload
       FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
       LEFT JOIN LATERAL (
         SELECT seq, payload::text AS payload FROM events
          WHERE tenant_id = c.tenant_id AND conversation_id = c.id AND seq > $4
            AND ${mayReadSql('c', 'm')}
          ORDER BY seq LIMIT $5) e ON true
      WHERE c.tenant_id = $1 AND c.id = $2
      ORDER BY e.seq`,
      [tenant, conversation, user, since ?? 0, since === null ? 0 : limit],
      { name: 'herald_subscribe_read' },
    );
    if (!rows[0]) return null;
    return { row: accessRow(rows[0]), events: storedEvents(rows) };
  }

  async replay(tenant: string, conversation: string, since: number | null, limit: number) {
    const { rows } = await this.sql.query<{ head: number } & EventRow>(
      `SELECT c.last_seq AS head, e.seq, e.payload
       FROM conversations c
       LEFT JOIN LATERAL (
         SELECT seq, payload::text AS payload FROM events
          WHERE tenant_id = c.tenant_id AND conversation_id = c.id AND seq > $3
          ORDER BY seq LIMIT $4) e ON true
      WHERE c.tenant_id = $1 AND c.id = $2
      ORDER BY e.seq`,
      [tenant, conversation, since ?? 0, since === null ? 0 : limit],
    );
    if (rows.length === 0) return { head: 0, events: [] };
    return { head: Number(rows[0].head), events: storedEvents(rows) };
  }
}

function accessRow(r: AccessRow): AccessRow {
  return {
    kind: r.kind,
    audience: r.audience,
    member_count: Number(r.member_count),
    last_seq: Number(r.last_seq),
    member: r.member,
  };
}

/** The LATERAL join's rows: one row with null columns when there is no event. */
function storedEvents(rows: readonly EventRow[]): StoredEvent[] {
  const events: StoredEvent[] = [];
  for (const r of rows) {
    if (r.seq == null || r.payload == null) continue;
    events.push({ seq: Number(r.seq), payload: r.payload });
  }
  return events;
}
