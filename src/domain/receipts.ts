// Who has received and read how far: per recipient in small conversations, counts at any
// size. Built from the inbox entries (last_delivered_seq, last_read_seq) — what acks and
// reads already wrote — never from per-socket records.
import { HeraldError } from '../protocol/index.ts';
import { isTenantWide } from './access.ts';
import { DELIVERED_SQL } from './delivery-marker.ts';
import type { Sql } from './ports.ts';
import type { ReadableConversation } from './queries.ts';

export interface ReceiptRow {
  user_id: string;
  /** Read up to (last_read_seq). */
  seq: number;
  /** Delivered up to (never below `seq`: read implies delivered). */
  delivered_seq: number;
}

export interface ReceiptCounts {
  /** The seq counted against. */
  seq: number;
  /** Recipients counted: the members (every user of the tenant for a tenant-wide announcement). */
  recipients: number;
  delivered: number;
  read: number;
}

export interface Receipts {
  /** True when `receipts` lists every recipient with a position (members ≤ the detail limit). */
  detailed: boolean;
  receipts: ReceiptRow[];
  counts: ReceiptCounts;
}

/**
 * SQL of the rows of a conversation's recipients as alias `r` with a `user_id` column, for
 * `$1` tenant and `$2` conversation: the tenant's users for a tenant-wide announcement,
 * else the members (index lookups on either primary key).
 */
export function recipientsSql(tenantWide: boolean): string {
  return tenantWide
    ? '(SELECT id AS user_id, created_at AS since FROM users WHERE tenant_id = $1) r'
    : '(SELECT user_id, joined_at AS since FROM members WHERE tenant_id = $1 AND conversation_id = $2) r';
}

const ENTRY_JOIN =
  'LEFT JOIN inbox_entries e ON e.tenant_id = $1 AND e.user_id = r.user_id AND e.conversation_id = $2';

/** Receipts of a conversation the caller may read (see readableConversation). */
export async function receiptsOf(
  sql: Sql,
  tenant: string,
  readable: ReadableConversation,
  detailMax: number,
  at?: number,
): Promise<Receipts> {
  const c = readable.conversation;
  const seq = at ?? c.last_seq;
  if (seq > c.last_seq)
    throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${c.last_seq}).`);
  const tenantWide = isTenantWide({ kind: c.kind, audience: readable.audience });
  const { rows: n } = await sql.query<{ recipients: number; delivered: number; read: number }>(
    `SELECT count(*)::int AS recipients,
            count(*) FILTER (WHERE ${DELIVERED_SQL} >= $3)::int AS delivered,
            count(*) FILTER (WHERE e.last_read_seq >= $3)::int AS read
       FROM ${recipientsSql(tenantWide)} ${ENTRY_JOIN}`,
    [tenant, c.id, seq],
  );
  const counts = { seq, ...n[0] };
  const detailed = counts.recipients <= detailMax;
  if (!detailed) return { detailed, receipts: [], counts };
  const { rows } = await sql.query<{ user_id: string; seq: string; delivered_seq: string }>(
    `SELECT r.user_id, e.last_read_seq AS seq, ${DELIVERED_SQL} AS delivered_seq
       FROM ${recipientsSql(tenantWide)} JOIN inbox_entries e
         ON e.tenant_id = $1 AND e.user_id = r.user_id AND e.conversation_id = $2
      WHERE ${DELIVERED_SQL} > 0
      ORDER BY r.user_id`,
    [tenant, c.id],
  );
  return {
    detailed,
    receipts: rows.map((r) => ({
      user_id: r.user_id,
      seq: Number(r.seq),
      delivered_seq: Number(r.delivered_seq),
    })),
    counts,
  };
}
