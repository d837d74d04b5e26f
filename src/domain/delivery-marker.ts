// Delivery receipts: a client acknowledges what it has applied (`delivered {conversation,
// seq}`, coalesced by the SDK), and the recipient's inbox entry keeps the highest such seq
// beside last_read_seq. One statement per ack, no transaction of its own: it checks access
// and the head, moves the marker forward only, and — in conversations small enough for
// per-recipient receipts — writes one `receipt` frame to the room through the outbox (the
// store's InboxProjection.advanceDelivered).
import { HeraldError, isSeq } from '../protocol/index.ts';
import type { DomainDeps } from './commands.ts';

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
  // One statement, no transaction of its own: the store checks the rule (mayReadSql) and the
  // head in it and writes only what they allow; the domain names what was refused.
  const r = await deps
    .projection(deps.db)
    .advanceDelivered(tenant, user, conversation, seq, deps.limits.receiptDetailMax, traceId);
  if (!r.found) throw new HeraldError('CONVERSATION_NOT_FOUND');
  if (!r.allowed) throw new HeraldError('NOT_A_MEMBER');
  if (seq > r.last_seq)
    throw new HeraldError('INVALID_SEQ', `seq ${seq} is beyond the head (${r.last_seq}).`);
  // The store reads the marker from before the upsert: a moved marker is `seq`.
  return {
    moved: r.moved,
    delivered_seq: r.moved ? seq : (r.delivered_before ?? 0),
    read_seq: r.read_seq ?? 0,
  };
}
