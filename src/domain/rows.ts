// Row → wire mapping, and the SQL expressions that build wire JSON inside
// the database (so outbox payloads and read queries produce one shape).
import type { Attachment, Message, MessageKind, MessagePreview } from '../protocol/index.ts';
import type { Row } from './ports.ts';

function iso(v: unknown): string {
  return v instanceof Date ? v.toISOString() : String(v);
}
function isoOrNull(v: unknown): string | null {
  return v == null ? null : iso(v);
}

export function toMessage(r: Row): Message {
  return {
    id: r.id as string,
    tenant_id: r.tenant_id as string,
    conversation_id: r.conversation_id as string,
    seq: Number(r.seq),
    kind: r.kind as MessageKind,
    sender: r.sender_id == null ? { type: 'system' } : { type: 'user', user_id: r.sender_id as string },
    body: r.body as string,
    reply_to: (r.reply_to as string | null) ?? null,
    mentions: (r.mentions as string[]) ?? [],
    attachments: (r.attachments as Attachment[]) ?? [],
    client_id: (r.client_id as string | null) ?? null,
    data: (r.data as Record<string, unknown> | null) ?? null,
    created_at: iso(r.created_at),
    edited_at: isoOrNull(r.edited_at),
    deleted_at: isoOrNull(r.deleted_at),
  };
}

export function toPreview(m: Message): MessagePreview {
  return {
    message_id: m.id,
    seq: m.seq,
    sender: m.sender,
    // Previews are short by design: the list never ships whole bodies.
    body: m.deleted_at ? '' : m.body.slice(0, 140),
    kind: m.kind,
    created_at: m.created_at,
  };
}

/**
 * SQL expression of an InboxEntry as jsonb, from inbox alias `e` and conversation alias `c`.
 * Large channels keep no per-message unread counter: unread derives from seqs (DESIGN §6).
 */
export function inboxEntryJson(largeThreshold: number): string {
  return `jsonb_build_object(
    'conversation_id', c.id, 'kind', c.kind, 'title', c.title, 'last_seq', c.last_seq,
    'last_read_seq', e.last_read_seq,
    'unread_count', CASE WHEN c.kind = 'channel' AND c.member_count > ${Number(largeThreshold)}
                         THEN LEAST(GREATEST(c.last_seq - e.last_read_seq, 0), 999) ELSE e.unread_count END,
    'mention_count', e.mention_count, 'archived', e.archived, 'muted', e.muted, 'pinned', e.pinned,
    'last_activity_at', GREATEST(e.last_activity_at, COALESCE(c.last_message_at, e.last_activity_at)),
    'last_message', c.last_message, 'version', e.version)`;
}
