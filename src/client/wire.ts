// `event` frames carry lean messages (src/protocol/frames.ts WireMessage): this restores
// the full Message from the frame and the connection, so applications see the same shape
// as over HTTP. A full message (an older server) passes through unchanged.
import type { WireEvent, WireMessage } from '../protocol/frames.ts';
import type { ConversationEvent, Message } from '../protocol/model.ts';

export function expandMessage(m: WireMessage, tenant: string, conversation: string, seq: number): Message {
  return {
    id: m.id,
    tenant_id: m.tenant_id ?? tenant,
    conversation_id: m.conversation_id ?? conversation,
    seq: m.seq ?? seq,
    kind: m.kind,
    sender: m.sender,
    body: m.body,
    reply_to: m.reply_to ?? null,
    mentions: m.mentions ?? [],
    attachments: m.attachments ?? [],
    client_id: m.client_id ?? null,
    data: m.data ?? null,
    created_at: m.created_at,
    edited_at: m.edited_at ?? null,
    deleted_at: m.deleted_at ?? null,
    ...(m.thread_root !== undefined ? { thread_root: m.thread_root } : {}),
    ...(m.reply_count !== undefined ? { reply_count: m.reply_count, last_reply_at: m.last_reply_at } : {}),
  };
}

export function expandEvent(
  e: WireEvent,
  tenant: string,
  conversation: string,
  seq: number,
): ConversationEvent {
  switch (e.type) {
    case 'message.created': {
      const message = expandMessage(e.message, tenant, conversation, seq);
      return e.thread ? { type: e.type, message, thread: e.thread } : { type: e.type, message };
    }
    case 'message.edited':
      return { type: e.type, message: expandMessage(e.message, tenant, conversation, seq) };
    case 'message.deleted':
      return e;
    default:
      // A kind's event (a reaction, a vote) carries no message: as sent.
      return e;
  }
}
