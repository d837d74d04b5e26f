// The delivery log of an endpoint (keyset by id, newest first), a manual retry of one
// delivery, and replay: re-sending the log from a point, as copies in streams of their own.
import { HeraldError } from '../protocol/index.ts';
import type { Row, Sql } from '../store/db.ts';
import { getEndpoint } from './endpoints.ts';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  id: string;
  /** The `webhook-id` header: the same on every retry and replay of this event. */
  webhook_id: string;
  type: string;
  status: DeliveryStatus;
  conversation: string | null;
  seq: number | null;
  attempts: number;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  last_latency_ms: number | null;
  /** When a pending delivery is tried next; null otherwise. */
  next_attempt_at: string | null;
  delivered_at: string | null;
  replay_of: string | null;
  created_at: string;
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());

export function toDelivery(r: Row): Delivery {
  return {
    id: String(r.id),
    webhook_id: r.event_id as string,
    type: r.event_type as string,
    status: r.status as DeliveryStatus,
    conversation: (r.conversation_id as string | null) ?? null,
    seq: r.seq == null ? null : Number(r.seq),
    attempts: Number(r.attempts),
    last_attempt_at: iso(r.last_attempt_at),
    last_status_code: r.last_status_code == null ? null : Number(r.last_status_code),
    last_error: (r.last_error as string | null) ?? null,
    last_latency_ms: r.last_latency_ms == null ? null : Number(r.last_latency_ms),
    next_attempt_at: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    delivered_at: iso(r.delivered_at),
    replay_of: r.replay_of == null ? null : String(r.replay_of),
    created_at: iso(r.created_at) as string,
  };
}

const DELIVERY_ID = /^[1-9][0-9]{0,17}$/;

function deliveryId(id: string): string {
  if (!DELIVERY_ID.test(id)) throw new HeraldError('WEBHOOK_DELIVERY_NOT_FOUND');
  return id;
}

/** Newest first; `before` is the `next_before` of the previous page. */
export async function listDeliveries(
  sql: Sql,
  tenant: string,
  endpoint: string,
  opts: { before?: string; status?: DeliveryStatus; limit: number },
): Promise<{ deliveries: Delivery[]; next_before: string | null }> {
  await getEndpoint(sql, tenant, endpoint);
  const before = opts.before === undefined ? null : deliveryId(opts.before);
  const { rows } = await sql.query(
    `SELECT * FROM webhook_deliveries
      WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3::bigint IS NULL OR id < $3::bigint)
        AND ($4::text IS NULL OR status = $4)
      ORDER BY id DESC LIMIT $5`,
    [tenant, endpoint, before, opts.status ?? null, opts.limit + 1],
  );
  const page = rows.slice(0, opts.limit).map(toDelivery);
  return { deliveries: page, next_before: rows.length > opts.limit ? page[page.length - 1].id : null };
}

/**
 * Puts a delivery back to pending, due now, with a fresh retry window. It keeps its place
 * in its stream: later pending deliveries of the same conversation wait for it again.
 */
export async function retryDelivery(
  sql: Sql,
  tenant: string,
  endpoint: string,
  id: string,
): Promise<Delivery> {
  await getEndpoint(sql, tenant, endpoint);
  const { rows } = await sql.query(
    `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), window_started_at = now(),
            lease_owner = NULL, lease_until = NULL
      WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3::bigint RETURNING *`,
    [tenant, endpoint, deliveryId(id)],
  );
  if (!rows[0]) throw new HeraldError('WEBHOOK_DELIVERY_NOT_FOUND');
  return toDelivery(rows[0]);
}

/** At most this many deliveries are copied by one replay call. */
export const REPLAY_MAX = 10_000;

/**
 * Re-sends the endpoint's log after `since`: a delivery id (exclusive) or an RFC 3339
 * time (inclusive). Copies keep their `webhook-id` and go out in the original order, per
 * stream, in streams of their own (`replay:{first copy}:…`), so they neither wait for nor
 * hold up live deliveries. Only original deliveries are copied, never earlier replays.
 */
export async function replay(
  sql: Sql,
  tenant: string,
  endpoint: string,
  since: string,
): Promise<{ replayed: number; has_more: boolean }> {
  await getEndpoint(sql, tenant, endpoint);
  const byId = DELIVERY_ID.test(since);
  if (!byId && Number.isNaN(Date.parse(since)))
    throw new HeraldError('VALIDATION_FAILED', 'since must be a delivery id or an RFC 3339 time.');
  const { rows } = await sql.query<{ n: number; more: boolean }>(
    `WITH src AS (
       SELECT * FROM webhook_deliveries
        WHERE tenant_id = $1 AND endpoint_id = $2 AND replay_of IS NULL
          AND (CASE WHEN $3::boolean THEN id > $4::bigint ELSE created_at >= $5::timestamptz END)
        ORDER BY id LIMIT $6),
     pick AS (SELECT * FROM src ORDER BY id LIMIT $7),
     tag AS (SELECT 'replay:' || nextval('webhook_deliveries_id_seq') || ':' AS prefix),
     ins AS (
       INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, stream, conversation_id,
                                       seq, notice_id, data, replay_of, created_at)
       SELECT s.tenant_id, s.endpoint_id, s.event_id, s.event_type, tag.prefix || s.stream, s.conversation_id,
              s.seq, s.notice_id, s.data, s.id, s.created_at
         FROM pick s, tag ORDER BY s.id
       RETURNING 1)
     SELECT (SELECT count(*) FROM ins)::int AS n, (SELECT count(*) FROM src) > $7 AS more`,
    [tenant, endpoint, byId, byId ? since : null, byId ? null : since, REPLAY_MAX + 1, REPLAY_MAX],
  );
  return { replayed: rows[0].n, has_more: rows[0].more };
}
