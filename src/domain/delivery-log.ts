// The per-message delivery log (GET …/messages/{id}/delivery): what happened to one message,
// built only from what is already recorded — the message row (committed), the room's outbox
// row (published), the recipients' inbox markers (delivered, read) and the webhook delivery
// rows. Nothing here is written on the hot path for it.
import { HeraldError, type Sender } from '../protocol/index.ts';
import { isTenantWide } from './access.ts';
import type { DeliveryReader, RecipientState, WebhookOutcome } from './read-ports.ts';
import { iso } from './rows.ts';

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
  delivery: DeliveryReader,
  tenant: string,
  conversation: string,
  messageId: string,
  opts: DeliveryLogOptions,
): Promise<DeliveryLog> {
  const conv = await delivery.audience(tenant, conversation);
  if (!conv) throw new HeraldError('CONVERSATION_NOT_FOUND');
  const m = await delivery.message(tenant, conversation, messageId);
  if (!m) throw new HeraldError('MESSAGE_NOT_FOUND');
  const seq = m.seq;
  const tenantWide = isTenantWide(conv);
  const published = await delivery.published(tenant, conversation, seq, m.created_at);
  // Recipients at commit: the members (a tenant-wide announcement: the tenant's users) who were
  // there when the message was committed, but its sender. Members who left since are no longer
  // known and are not counted.
  const counts = await delivery.recipientsAt(tenant, conversation, tenantWide, m);
  const detailed = counts.count <= opts.detailMax;
  const users = detailed ? await delivery.recipientStatesAt(tenant, conversation, tenantWide, m) : [];
  const deliveries = await delivery.webhooks(tenant, conversation, seq);
  const count = (s: WebhookOutcome['status']) => deliveries.filter((d) => d.status === s).length;
  return {
    message_id: messageId,
    conversation_id: conversation,
    seq,
    sender: m.sender_id == null ? { type: 'system' } : { type: 'user', user_id: m.sender_id },
    committed_at: iso(m.created_at),
    deleted_at: m.deleted_at == null ? null : iso(m.deleted_at),
    ...published,
    recipients: { ...counts, detailed, users },
    webhooks: { delivered: count('delivered'), pending: count('pending'), dead: count('dead'), deliveries },
    // The one place push outcomes join the log.
    push: opts.push ? await opts.push({ tenant, conversation, message_id: messageId, seq }) : null,
  };
}
