// The per-device push log (keyset by id, newest first) and the per-message summary the
// per-message delivery log reads (pushSummaryForMessage).
import { HeraldError } from '../protocol/index.ts';
import type { Row, Sql } from '../store/db.ts';
import { getDevice } from './devices.ts';

export const PUSH_STATUSES = ['pending', 'sent', 'failed', 'invalid_token', 'skipped'] as const;
export type PushStatus = (typeof PUSH_STATUSES)[number];

export interface PushDelivery {
  id: string;
  /** Stable across retries: APNs apns-id, `push_id` in every payload. */
  push_id: string;
  kind: 'message' | 'test';
  status: PushStatus;
  /** skipped: muted | online | read | device_removed; failed / invalid_token: what the provider said. */
  reason: string | null;
  conversation: string | null;
  /** A thread push: the thread's root (its seqs are the thread's replies); null for the conversation's. */
  thread_root: string | null;
  /** The seqs this push covers (coalesced); a skip names one. */
  first_seq: number | null;
  last_seq: number | null;
  attempts: number;
  /** The provider's HTTP status of the last attempt (null: no answer, or not sent). */
  provider_status: number | null;
  /** The provider's answer, shortened (its error reason, or its message id). */
  provider_response: string | null;
  latency_ms: number | null;
  next_attempt_at: string | null;
  created_at: string;
  finished_at: string | null;
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());
const num = (v: unknown) => (v == null ? null : Number(v));

export function toPushDelivery(r: Row): PushDelivery {
  return {
    id: String(r.id),
    push_id: String(r.push_id),
    kind: r.kind as 'message' | 'test',
    status: r.status as PushStatus,
    reason: (r.reason as string | null) ?? null,
    conversation: (r.conversation_id as string | null) ?? null,
    thread_root: (r.thread_root as string | null) ?? null,
    first_seq: num(r.first_seq),
    last_seq: num(r.last_seq),
    attempts: Number(r.attempts),
    provider_status: num(r.provider_status),
    provider_response: (r.provider_response as string | null) ?? null,
    latency_ms: num(r.latency_ms),
    next_attempt_at: r.status === 'pending' ? iso(r.next_attempt_at) : null,
    created_at: iso(r.created_at) as string,
    finished_at: iso(r.finished_at),
  };
}

const DELIVERY_ID = /^[1-9][0-9]{0,17}$/;

/** A device's log, newest first; `before` is the `next_before` of the previous page. */
export async function listPushDeliveries(
  sql: Sql,
  tenant: string,
  user: string,
  device: string,
  opts: { before?: string; limit: number },
): Promise<{ deliveries: PushDelivery[]; next_before: string | null }> {
  await getDevice(sql, tenant, user, device);
  if (opts.before !== undefined && !DELIVERY_ID.test(opts.before))
    throw new HeraldError('VALIDATION_FAILED', 'before must be a delivery id from next_before.');
  const { rows } = await sql.query(
    `SELECT * FROM push_deliveries
      WHERE tenant_id = $1 AND device_id = $2 AND ($3::bigint IS NULL OR id < $3::bigint)
      ORDER BY id DESC LIMIT $4`,
    [tenant, device, opts.before ?? null, opts.limit + 1],
  );
  const page = rows.slice(0, opts.limit).map(toPushDelivery);
  return { deliveries: page, next_before: rows.length > opts.limit ? page[page.length - 1].id : null };
}

export interface PushSummary {
  /** Devices a push covering this message went to (or is going to), by outcome. */
  sent: number;
  pending: number;
  failed: number;
  invalid_token: number;
  /** Devices not pushed, by why: muted, online, read (before the push went out), device_removed. */
  skipped: Record<string, number>;
}

/**
 * Counts of pushes per outcome for one message: every device whose push covered the
 * message's seq (a coalesced push covers several) or that was skipped for it. A message the
 * dispatcher has not decided yet (within the delay) counts nothing. A thread reply counts its
 * thread's pushes, any other message the conversation's (their seq ranges interleave).
 */
export async function pushSummaryForMessage(
  sql: Sql,
  tenant: string,
  conversation: string,
  seq: number,
): Promise<PushSummary> {
  const { rows } = await sql.query<{ status: PushStatus; reason: string | null; n: number }>(
    `SELECT status, CASE WHEN status = 'skipped' THEN reason END AS reason, count(*)::int AS n
       FROM push_deliveries
      WHERE tenant_id = $1 AND conversation_id = $2 AND kind = 'message'
        AND last_seq >= $3 AND first_seq <= $3
        AND thread_root IS NOT DISTINCT FROM (
          SELECT thread_root FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq = $3)
      GROUP BY 1, 2`,
    [tenant, conversation, seq],
  );
  const out: PushSummary = { sent: 0, pending: 0, failed: 0, invalid_token: 0, skipped: {} };
  for (const r of rows) {
    if (r.status === 'skipped')
      out.skipped[r.reason ?? 'unknown'] = (out.skipped[r.reason ?? 'unknown'] ?? 0) + r.n;
    else out[r.status] += r.n;
  }
  return out;
}
