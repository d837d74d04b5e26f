// A row of the messages table as the protocol's Message (drivers return Date or text for
// timestamps; herald_message_json, migration 016, is the same mapping inside the database).
import type { Row } from '../../domain/ports.ts';
import { iso } from '../../domain/rows.ts';
import type { Attachment, Message, MessageKind } from '../../protocol/index.ts';

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
    // Only when set, as herald_message_json writes them (migration 016).
    ...(r.thread_root != null ? { thread_root: r.thread_root as string } : {}),
    ...(Number(r.reply_count ?? 0) > 0
      ? { reply_count: Number(r.reply_count), last_reply_at: iso(r.last_reply_at) }
      : {}),
  };
}
