// Values the domain shapes itself: a timestamp's wire spelling, a message's preview. A row's
// mapping to a Message and the SQL that builds wire JSON are the store's (src/store/pg/rows.ts,
// src/store/pg/sql.ts).
import { type Message, type MessagePreview, previewBody } from '../protocol/index.ts';

/** A timestamp column as ISO 8601 (drivers return Date or text); unparseable text is kept as is. */
export function iso(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  const d = new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}
export function toPreview(m: Message): MessagePreview {
  return {
    message_id: m.id,
    seq: m.seq,
    sender: m.sender,
    // Previews are short by design: the list never ships whole bodies.
    body: m.deleted_at ? '' : previewBody(m.body),
    kind: m.kind,
    created_at: m.created_at,
  };
}
