// The per-message delivery log (GET …/messages/{id}/delivery): what happened to one message,
// built only from what is already recorded — the message row (committed), the room's outbox
// row (published), the recipients' inbox markers (delivered, read) and the webhook delivery
// rows. Nothing here is written on the hot path for it.
import { HeraldError, type Sender } from '../protocol/index.ts';
import { isTenantWide } from './access.ts';
import { DELIVERED_SQL } from './delivery-marker.ts';
import type { Sql } from './ports.ts';
import { iso } from './rows.ts';

export interface RecipientState {
  user_id: string;
  delivered: boolean;
  read: boolean;
}

export interface WebhookOutcome {
  endpoint_id: string;
  webhook_id: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

/**
 * The push part of the log. Push is its own feature (src/push): it supplies the reporter
 * (`DeliveryLogOptions.push`); without one the log says `push: null`.
 */
export type PushReporter = (q: {
  tenant: string;
  conversation: string;
  message_id: string;
  seq: number;
}) => Promise<Record<string, unknown>>;

export interface DeliveryLog {
  message_id: string;
  conversation_id: string;
  seq: number;
  sender: Sender;
  committed_at: string;
  deleted_at: string | null;
  /** The room's event frame left the outbox; `published_at` is null once the row is pruned. */
  published: boolean;
  published_at: string | null;
  recipients: {
    count: number;
    delivered: number;
    read: number;
    /** True: `users` lists every recipient (at most the receipt detail limit). */
    detailed: boolean;
    users: RecipientState[];
  };
  webhooks: { delivered: number; pending: number; dead: number; deliveries: WebhookOutcome[] };
  push: Record<string, unknown> | null;
}

export interface DeliveryLogOptions {
  detailMax: number;
  push?: PushReporter;
}

export async function deliveryLog(
  sql: Sql,
  tenant: string,
  conversation: string,
  messageId: string,
  opts: DeliveryLogOptions,
): Promise<DeliveryLog> {
  const { rows: convs } = await sql.query<{ kind: string; audience: string }>(
    'SELECT kind, audience FROM conversations WHERE tenant_id = $1 AND id = $2',
    [tenant, conversation],
  );
  if (!convs[0]) throw new HeraldError('CONVERSATION_NOT_FOUND');
  const { rows: msgs } = await sql.query<{
    seq: string;
    sender_id: string | null;
    created_at: Date | string;
    deleted_at: Date | string | null;
  }>(
    'SELECT seq, sender_id, created_at, deleted_at FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
    [tenant, conversation, messageId],
  );
  const m = msgs[0];
  if (!m) throw new HeraldError('MESSAGE_NOT_FOUND');
  const seq = Number(m.seq);
  const tenantWide = isTenantWide(convs[0]);
  const published = await publishedAt(sql, tenant, conversation, seq, m.created_at);
  const recipients = await recipientsOf(sql, tenant, conversation, tenantWide, seq, m, opts.detailMax);
  const webhooks = await webhooksOf(sql, tenant, conversation, seq);
  return {
    message_id: messageId,
    conversation_id: conversation,
    seq,
    sender: m.sender_id == null ? { type: 'system' } : { type: 'user', user_id: m.sender_id },
    committed_at: iso(m.created_at),
    deleted_at: m.deleted_at == null ? null : iso(m.deleted_at),
    ...published,
    recipients,
    webhooks,
    // The one place push outcomes join the log.
    push: opts.push ? await opts.push({ tenant, conversation, message_id: messageId, seq }) : null,
  };
}

/**
 * Recipients at commit: the members (a tenant-wide announcement: the tenant's users) who were
 * there when the message was committed, but its sender. Members who left since are no longer
 * known and are not counted.
 */
async function recipientsOf(
  sql: Sql,
  tenant: string,
  conversation: string,
  tenantWide: boolean,
  seq: number,
  m: { sender_id: string | null; created_at: Date | string },
  detailMax: number,
): Promise<DeliveryLog['recipients']> {
  const from = tenantWide
    ? '(SELECT id AS user_id, created_at AS since FROM users WHERE tenant_id = $1) r'
    : '(SELECT user_id, joined_at AS since FROM members WHERE tenant_id = $1 AND conversation_id = $2) r';
  const where = 'r.since <= $4::timestamptz AND r.user_id IS DISTINCT FROM $5';
  const join =
    'LEFT JOIN inbox_entries e ON e.tenant_id = $1 AND e.user_id = r.user_id AND e.conversation_id = $2';
  const params = [tenant, conversation, seq, new Date(m.created_at), m.sender_id];
  const { rows: n } = await sql.query<{ count: number; delivered: number; read: number }>(
    `SELECT count(*)::int AS count,
            count(*) FILTER (WHERE ${DELIVERED_SQL} >= $3)::int AS delivered,
            count(*) FILTER (WHERE e.last_read_seq >= $3)::int AS read
       FROM ${from} ${join} WHERE ${where}`,
    params,
  );
  const counts = n[0];
  const detailed = counts.count <= detailMax;
  let users: RecipientState[] = [];
  if (detailed) {
    const { rows } = await sql.query<{ user_id: string; delivered: boolean; read: boolean }>(
      `SELECT r.user_id, COALESCE(${DELIVERED_SQL} >= $3, false) AS delivered,
              COALESCE(e.last_read_seq >= $3, false) AS read
         FROM ${from} ${join} WHERE ${where} ORDER BY r.user_id`,
      params,
    );
    users = rows;
  }
  return { ...counts, detailed, users };
}

async function webhooksOf(
  sql: Sql,
  tenant: string,
  conversation: string,
  seq: number,
): Promise<DeliveryLog['webhooks']> {
  // Originals only (replays are copies of them), the message's creation event.
  const { rows } = await sql.query<{
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
  const deliveries = rows.map((r) => ({
    endpoint_id: r.endpoint_id,
    webhook_id: r.event_id,
    status: r.status,
    attempts: Number(r.attempts),
    last_status_code: r.last_status_code == null ? null : Number(r.last_status_code),
    last_error: r.last_error,
    delivered_at: r.delivered_at == null ? null : iso(r.delivered_at),
  }));
  const count = (s: WebhookOutcome['status']) => deliveries.filter((d) => d.status === s).length;
  return { delivered: count('delivered'), pending: count('pending'), dead: count('dead'), deliveries };
}

/** Outbox rows between the message's commit and its room frame, generously (see publishedAt). */
const WINDOW_BEFORE = 1_000;
const WINDOW_AFTER = 50_000;

/**
 * When the room's `event` frame of the message was published. The outbox has no index but
 * its primary key and the pending rows (adding one would tax every write), and its rows are
 * pruned an hour after publishing. Its ids grow with time and the frame's row carries the
 * message's transaction time as `created_at`: a binary search over the key finds the first row
 * of that time (a few dozen index probes), and the frame is looked for in a bounded id window
 * around it. Pending rows are found through the relay's partial index instead. Neither: the
 * row was pruned — it was published (only published rows are pruned), when is no longer known.
 */
async function publishedAt(
  sql: Sql,
  tenant: string,
  conversation: string,
  seq: number,
  committed: Date | string,
): Promise<{ published: boolean; published_at: string | null }> {
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
