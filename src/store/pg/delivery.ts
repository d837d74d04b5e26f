// Who received and read what (receipts, the per-message delivery log), from what is already
// recorded: the recipients' inbox markers, the room's outbox row, the webhook delivery rows.
// Nothing here is written on the hot path for it. Which recipients count (tenant-wide or
// members) and whether a detail list is wanted is the domain's call (receipts.ts,
// delivery-log.ts).
import type { Sql } from '../../domain/ports.ts';
import type {
  CommittedMessage,
  DeliveryReader,
  RecipientCounts,
  RecipientState,
  WebhookOutcome,
} from '../../domain/read-ports.ts';
import { iso } from '../../domain/rows.ts';
import { DELIVERED_SQL } from './sql.ts';

/**
 * SQL of the rows of a conversation's recipients as alias `r` with a `user_id` column, for
 * `$1` tenant and `$2` conversation: the tenant's users for a tenant-wide announcement,
 * else the members (index lookups on either primary key).
 */
function recipientsSql(tenantWide: boolean): string {
  return tenantWide
    ? '(SELECT id AS user_id, created_at AS since FROM users WHERE tenant_id = $1) r'
    : '(SELECT user_id, joined_at AS since FROM members WHERE tenant_id = $1 AND conversation_id = $2) r';
}

const ENTRY_JOIN =
  'LEFT JOIN inbox_entries e ON e.tenant_id = $1 AND e.user_id = r.user_id AND e.conversation_id = $2';

/** Recipients at a message's commit (`$4`), but its sender (`$5`). */
const AT_COMMIT = 'r.since <= $4::timestamptz AND r.user_id IS DISTINCT FROM $5';

/** Outbox rows between the message's commit and its room frame, generously (see published). */
const WINDOW_BEFORE = 1_000;
const WINDOW_AFTER = 50_000;

export class PgDeliveryReader implements DeliveryReader {
  constructor(private readonly sql: Sql) {}

  async receiptCounts(tenant: string, conversation: string, tenantWide: boolean, seq: number) {
    const { rows } = await this.sql.query<{ recipients: number; delivered: number; read: number }>(
      `SELECT count(*)::int AS recipients,
            count(*) FILTER (WHERE ${DELIVERED_SQL} >= $3)::int AS delivered,
            count(*) FILTER (WHERE e.last_read_seq >= $3)::int AS read
       FROM ${recipientsSql(tenantWide)} ${ENTRY_JOIN}`,
      [tenant, conversation, seq],
    );
    return rows[0];
  }

  async receipts(tenant: string, conversation: string, tenantWide: boolean) {
    const { rows } = await this.sql.query<{ user_id: string; seq: string; delivered_seq: string }>(
      `SELECT r.user_id, e.last_read_seq AS seq, ${DELIVERED_SQL} AS delivered_seq
       FROM ${recipientsSql(tenantWide)} JOIN inbox_entries e
         ON e.tenant_id = $1 AND e.user_id = r.user_id AND e.conversation_id = $2
      WHERE ${DELIVERED_SQL} > 0
      ORDER BY r.user_id`,
      [tenant, conversation],
    );
    return rows.map((r) => ({
      user_id: r.user_id,
      seq: Number(r.seq),
      delivered_seq: Number(r.delivered_seq),
    }));
  }

  async audience(tenant: string, conversation: string) {
    const { rows } = await this.sql.query<{ kind: string; audience: string }>(
      'SELECT kind, audience FROM conversations WHERE tenant_id = $1 AND id = $2',
      [tenant, conversation],
    );
    return rows[0] ?? null;
  }

  async message(tenant: string, conversation: string, id: string): Promise<CommittedMessage | null> {
    const { rows } = await this.sql.query<{
      seq: string;
      sender_id: string | null;
      created_at: Date | string;
      deleted_at: Date | string | null;
    }>(
      'SELECT seq, sender_id, created_at, deleted_at FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
      [tenant, conversation, id],
    );
    const m = rows[0];
    return m ? { ...m, seq: Number(m.seq) } : null;
  }

  async recipientsAt(
    tenant: string,
    conversation: string,
    tenantWide: boolean,
    m: CommittedMessage,
  ): Promise<RecipientCounts> {
    const { rows } = await this.sql.query<RecipientCounts>(
      `SELECT count(*)::int AS count,
            count(*) FILTER (WHERE ${DELIVERED_SQL} >= $3)::int AS delivered,
            count(*) FILTER (WHERE e.last_read_seq >= $3)::int AS read
       FROM ${recipientsSql(tenantWide)} ${ENTRY_JOIN} WHERE ${AT_COMMIT}`,
      atCommit(tenant, conversation, m),
    );
    return rows[0];
  }

  async recipientStatesAt(
    tenant: string,
    conversation: string,
    tenantWide: boolean,
    m: CommittedMessage,
  ): Promise<RecipientState[]> {
    const { rows } = await this.sql.query<{ user_id: string; delivered: boolean; read: boolean }>(
      `SELECT r.user_id, COALESCE(${DELIVERED_SQL} >= $3, false) AS delivered,
              COALESCE(e.last_read_seq >= $3, false) AS read
         FROM ${recipientsSql(tenantWide)} ${ENTRY_JOIN} WHERE ${AT_COMMIT} ORDER BY r.user_id`,
      atCommit(tenant, conversation, m),
    );
    return rows;
  }

  async webhooks(tenant: string, conversation: string, seq: number): Promise<WebhookOutcome[]> {
    // Originals only (replays are copies of them), the message's creation event.
    const { rows } = await this.sql.query<{
      endpoint_id: string;
      event_id: string;
      status: WebhookOutcome['status'];
      attempts: number;
      last_status_code: number | null;
      last_error: string | null;
      delivered_at: Date | string | null;
    }>(
      `SELECT endpoint_id, event_id, status, attempts, last_status_code, last_error, delivered_at
       FROM webhook_deliveries
      WHERE tenant_id = $1 AND conversation_id = $2 AND seq = $3 AND replay_of IS NULL
      ORDER BY endpoint_id, id LIMIT 1000`,
      [tenant, conversation, seq],
    );
    return rows.map((r) => ({
      endpoint_id: r.endpoint_id,
      webhook_id: r.event_id,
      status: r.status,
      attempts: Number(r.attempts),
      last_status_code: r.last_status_code == null ? null : Number(r.last_status_code),
      last_error: r.last_error,
      delivered_at: r.delivered_at == null ? null : iso(r.delivered_at),
    }));
  }

  /**
   * When the room's `event` frame of the message was published. The outbox has no index but
   * its primary key and the pending rows (adding one would tax every write), and its rows are
   * pruned an hour after publishing. Its ids grow with time and the frame's row carries the
   * message's transaction time as `created_at`: a binary search over the key finds the first row
   * of that time (a few dozen index probes), and the frame is looked for in a bounded id window
   * around it. Pending rows are found through the relay's partial index instead. Neither: the
   * row was pruned — it was published (only published rows are pruned), when is no longer known.
   */
  async published(
    tenant: string,
    conversation: string,
    seq: number,
    committed: Date | string,
  ): Promise<{ published: boolean; published_at: string | null }> {
    const sql = this.sql;
    const room = `t:${tenant}:c:${conversation}`;
    const frame = `tenant_id = $1 AND topic = $2 AND payload->>'type' = 'event' AND (payload->>'seq')::bigint = $3`;
    // Still pending: the relay's own partial index holds only unpublished rows.
    const { rows: pending } = await sql.query(
      `SELECT 1 FROM outbox WHERE published_at IS NULL AND partition = (hashtext($2) & 15) AND ${frame} LIMIT 1`,
      [tenant, room, seq],
    );
    if (pending[0]) return { published: false, published_at: null };
    const at = new Date(committed);
    const { rows: span } = await sql.query<{ lo: string | null; hi: string | null }>(
      'SELECT min(id)::text AS lo, max(id)::text AS hi FROM outbox',
    );
    if (span[0]?.lo != null && span[0]?.hi != null) {
      let lo = BigInt(span[0].lo);
      let hi = BigInt(span[0].hi);
      // First id whose row was created at or after the commit (ids may skip: probe with >=).
      while (lo < hi) {
        const mid = (lo + hi) / 2n;
        const probe: { rows: { id: string; created_at: Date | string }[] } = await sql.query(
          'SELECT id::text AS id, created_at FROM outbox WHERE id >= $1::bigint ORDER BY id LIMIT 1',
          [mid.toString()],
        );
        const r = probe.rows[0];
        if (!r || new Date(r.created_at) >= at) hi = mid;
        else lo = BigInt(r.id) + 1n;
      }
      const { rows } = await sql.query<{ published_at: Date | string }>(
        `SELECT published_at FROM outbox
        WHERE id BETWEEN $4::bigint AND $5::bigint AND published_at IS NOT NULL AND ${frame}
        ORDER BY id LIMIT 1`,
        [tenant, room, seq, (lo - BigInt(WINDOW_BEFORE)).toString(), (lo + BigInt(WINDOW_AFTER)).toString()],
      );
      if (rows[0]) return { published: true, published_at: iso(rows[0].published_at) };
    }
    // Not pending and not found: pruned after publishing; when is no longer known.
    return { published: true, published_at: null };
  }
}

function atCommit(tenant: string, conversation: string, m: CommittedMessage): unknown[] {
  return [tenant, conversation, m.seq, new Date(m.created_at), m.sender_id];
}
