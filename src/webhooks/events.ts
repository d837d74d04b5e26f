// Webhook event types and the payload each delivery carries. The triggers of migration 007
// name the type when they enqueue; the payload is built when the attempt is made, from the
// current state of the log, so an erased (deleted) body is never sent.
import type { Sql } from '../store/db.ts';
import { PgConversationReader } from '../store/pg/conversations.ts';

export const WEBHOOK_EVENT_TYPES = [
  'message.created',
  'message.edited',
  'message.deleted',
  'member.joined',
  'member.left',
  'conversation.created',
  'conversation.renamed',
  'conversation.read',
  'notice.sent',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface DeliverySource {
  tenant_id: string;
  event_type: string;
  conversation_id: string | null;
  seq: number | null;
  notice_id: string | null;
  data: Record<string, unknown> | null;
  created_at: Date;
}

/**
 * The JSON body of a delivery: `{type, timestamp, data}` (the Standard Webhooks payload
 * shape). `timestamp` is when the event was committed, not when this attempt is made.
 */
export async function buildPayload(sql: Sql, d: DeliverySource): Promise<string> {
  let data: Record<string, unknown>;
  if (d.seq !== null && d.conversation_id !== null) {
    const { events } = await new PgConversationReader(sql).events(
      d.tenant_id,
      d.conversation_id,
      d.seq - 1,
      1,
    );
    const ev = events[0]?.seq === d.seq ? events[0].event : null;
    data = { tenant_id: d.tenant_id, conversation_id: d.conversation_id, seq: d.seq, event: ev };
  } else if (d.notice_id !== null) {
    const { rows } = await sql.query<{ notice: Record<string, unknown> | null }>(
      `SELECT jsonb_build_object(
                'id', n.id, 'title', n.title, 'body', n.body, 'data', n.data, 'audience', n.audience,
                'created_at', n.created_at,
                'recipients', (SELECT count(*) FROM notice_entries ne
                                WHERE ne.tenant_id = n.tenant_id AND ne.notice_id = n.id)) AS notice
         FROM notices n WHERE n.tenant_id = $1 AND n.id = $2`,
      [d.tenant_id, d.notice_id],
    );
    data = { tenant_id: d.tenant_id, notice: rows[0]?.notice ?? null };
  } else {
    data = { tenant_id: d.tenant_id, ...(d.data ?? {}) };
  }
  return JSON.stringify({ type: d.event_type, timestamp: d.created_at.toISOString(), data });
}
