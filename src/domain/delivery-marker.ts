// Delivery receipts: a client acknowledges what it has applied (`delivered {conversation,
// seq}`, coalesced by the SDK), and the recipient's inbox entry keeps the highest such seq
// beside last_read_seq. One statement per ack, no transaction of its own: it checks access
// and the head, moves the marker forward only, and — in conversations small enough for
// per-recipient receipts — writes one `receipt` frame to the room through the outbox.
import { HeraldError, isSeq, topics } from '../protocol/index.ts';
import { mayReadSql } from './access.ts';
import type { DomainDeps } from './commands.ts';
import type { Sql } from './ports.ts';

/** SQL expression of a recipient's effective delivered seq from inbox alias `e`. */
export const DELIVERED_SQL = 'GREATEST(e.last_delivered_seq, e.last_read_seq)';

export interface DeliveredResult {
  /** True when the marker moved (a receipt may have been written). */
  moved: boolean;
  delivered_seq: number;
  read_seq: number;
}

export async function markDelivered(
  deps: DomainDeps,
  tenant: string,
  user: string,
  conversation: string,
  seq: number,
  traceId?: string,
): Promise<DeliveredResult> {
  if (!isSeq(seq)) throw new HeraldError('VALIDATION_FAILED', 'seq must be a non-negative integer.');
  return deliveredIn(deps.db, deps.limits.receiptDetailMax, tenant, user, conversation, seq, traceId);
}

async function deliveredIn(
  sql: Sql,
  detailMax: number,
  tenant: string,
  user: string,
  conversation: string,
  seq: number,
  traceId?: string,
): Promise<DeliveredResult> {
  // The upsert runs only for a reader allowed to see the conversation and a seq within the
  // head; its WHERE leaves a marker that is already there (or implied by the read marker)
  // untouched, so repeated and late acks write nothing.
  const { rows } = await sql.query<{
    found: boolean;
    allowed: boolean;
    last_seq: string;
    moved: boolean;
    delivered: string | null;
    read: string | null;
  }>(
    `WITH c AS (
       SELECT c.last_seq, c.member_count,
              ${mayReadSql('c', 'm')} AS allowed
         FROM conversations c
         LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
        WHERE c.tenant_id = $1 AND c.id = $2),
     up AS (
       INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_delivered_seq)
       SELECT $1, $3, $2, $4::bigint FROM c WHERE c.allowed AND $4::bigint <= c.last_seq AND $4::bigint > 0
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET last_delivered_seq = EXCLUDED.last_delivered_seq
        WHERE GREATEST(e.last_delivered_seq, e.last_read_seq) < EXCLUDED.last_delivered_seq
       RETURNING e.last_delivered_seq, e.last_read_seq),
     ob AS (
       INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, $5, jsonb_build_object('type', 'receipt', 'conversation', $2::text, 'user_id', $3::text,
                                         'seq', up.last_read_seq, 'delivered_seq', up.last_delivered_seq), $6
         FROM up, c WHERE c.member_count <= $7)
     SELECT EXISTS (SELECT 1 FROM c) AS found, COALESCE((SELECT allowed FROM c), false) AS allowed,
            (SELECT last_seq FROM c) AS last_seq, EXISTS (SELECT 1 FROM up) AS moved,
            (SELECT ${DELIVERED_SQL} FROM inbox_entries e
              WHERE e.tenant_id = $1 AND e.user_id = $3 AND e.conversation_id = $2) AS delivered,
            (SELECT e.last_read_seq FROM inbox_entries e
              WHERE e.tenant_id = $1 AND e.user_id = $3 AND e.conversation_id = $2) AS read`,
    [tenant, conversation, user, seq, topics.conversation(tenant, conversation), traceId ?? null, detailMax],
  );
  const r = rows[0];
  if (!r.found) throw new HeraldError('CONVERSATION_NOT_FOUND');
  if (!r.allowed) throw new HeraldError('NOT_A_MEMBER');
  if (seq > Number(r.last_seq))
    throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${r.last_seq}).`);
  // The outer SELECT sees the snapshot from before the upsert: a moved marker is `seq`.
  const before = Number(r.delivered ?? 0);
  return {
    moved: r.moved,
    delivered_seq: r.moved ? seq : before,
    read_seq: Number(r.read ?? 0),
  };
}
