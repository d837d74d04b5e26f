// Who has received and read how far: per recipient in small conversations, counts at any
// size. Built from the inbox entries (last_delivered_seq, last_read_seq) — what acks and
// reads already wrote — never from per-socket records.
import { HeraldError } from '../protocol/index.ts';
import { isTenantWide } from './access.ts';
import type { ConversationSeen, DeliveryReader, ReceiptRow } from './read-ports.ts';

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

/** Receipts of a conversation the caller may read (see readableConversation). */
export async function receiptsOf(
  delivery: DeliveryReader,
  tenant: string,
  readable: ConversationSeen,
  detailMax: number,
  at?: number,
): Promise<Receipts> {
  const c = readable.conversation;
  const seq = at ?? c.last_seq;
  if (seq > c.last_seq)
    throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${c.last_seq}).`);
  const tenantWide = isTenantWide({ kind: c.kind, audience: readable.audience });
  const counts = { seq, ...(await delivery.receiptCounts(tenant, c.id, tenantWide, seq)) };
  const detailed = counts.recipients <= detailMax;
  if (!detailed) return { detailed, receipts: [], counts };
  return { detailed, receipts: await delivery.receipts(tenant, c.id, tenantWide), counts };
}
