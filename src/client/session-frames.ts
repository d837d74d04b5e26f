// The handler table for the frames of a session (everything but the
// connection's own welcome, token_expiring, drain and pong): one entry per
// frame type, so a frame type added to the protocol is a compile error here
// until it is handled.
import { isRetryable } from '../protocol/errors.ts';
import type { InboxEntry } from '../protocol/model.ts';
import type { SessionFrame } from './connection.ts';
import type { Conversations } from './conversations.ts';
import type { DeliveryAcks } from './delivery-acks.ts';
import { HeraldClientError } from './errors.ts';
import type { FrameHandlers } from './frame-router.ts';
import type { InboxStore } from './inbox-store.ts';
import type { NoticeStore } from './notice-store.ts';
import type { HeraldClientEvents, WelcomeInfo } from './options.ts';
import type { Presence } from './presence.ts';
import type { ReadMarkers } from './reads.ts';
import type { Sends } from './sends.ts';
import type { TypingTracker } from './typing.ts';

export type SessionHandlers = FrameHandlers<SessionFrame['type']>;

export interface SessionParts {
  conversations: Conversations;
  sends: Sends;
  reads: ReadMarkers;
  device: Presence;
  inbox: InboxStore;
  notices: NoticeStore;
  typing: TypingTracker;
  deliveryAcks: DeliveryAcks;
  session(): WelcomeInfo | null;
  emit<K extends keyof HeraldClientEvents>(type: K, payload: HeraldClientEvents[K]): void;
  flush(): void;
}

/** An entry from the server (frame, sync page, HTTP read answer): settles reads, updates the store. */
export function serverEntry(p: Pick<SessionParts, 'reads' | 'inbox'>, entry: InboxEntry): void {
  p.reads.settle(entry.conversation_id, entry.last_read_seq);
  p.inbox._applyFrame(entry);
}

export function sessionHandlers(p: SessionParts): SessionHandlers {
  return {
    subscribed: (f) => p.conversations.onSubscribed(f),
    unsubscribed: (f) => {
      // 'UNSUBSCRIBED' answers our own close(), already handled; a re-open may have followed it.
      if (f.code === 'UNSUBSCRIBED') return;
      p.conversations.onUnsubscribed(f);
      p.emit('error', new HeraldClientError(f.code, undefined, { ref: f.conversation }));
    },
    event: (f) => p.conversations.onEvent(f, p.session()?.tenant_id ?? ''),
    // Acks go only to the sender's connection; still, it must be for the send's conversation.
    ack: ({ client_id, conversation, seq, message_id }) =>
      p.sends.acked({ client_id, conversation, seq, message_id }),
    inbox: (f) => serverEntry(p, f.entry),
    thread: (f) => p.emit('thread', f.entry),
    // A large channel moved on (DESIGN §6): derived, no version of its own.
    inbox_hint: (f) => p.inbox._applyHint(f),
    notice: (f) => {
      const fresh = p.notices._applyFrame(f.notice);
      if (fresh) p.emit('notice', fresh);
    },
    receipt: (f) => {
      // Servers without delivery receipts send none: read implies delivered.
      const delivered_seq = Math.max(f.delivered_seq ?? 0, f.seq);
      if (f.user_id === p.session()?.user_id) {
        p.reads.settle(f.conversation, f.seq);
        p.deliveryAcks.known(f.conversation, delivered_seq);
      }
      const { conversation, user_id, seq } = f;
      p.emit('receipt', { conversation, user_id, seq, delivered_seq });
    },
    typing: (f) => {
      if (f.user_id !== p.session()?.user_id) p.typing.incoming(f.conversation, f.user_id, f.ttl_ms);
    },
    presence: (f) => {
      p.device.merge(f.conversation ?? '', f.entries);
      p.emit('presence', { conversation: f.conversation, entries: f.entries });
    },
    degraded: (f) => p.emit('degraded', { reason: f.reason }),
    error: (f) => onErrorFrame(p, f.code, f.message, f.ref),
  };
}

/**
 * An `error` frame. `ref` names a send (its client_id) or a conversation (a subscribe, read, view
 * or typing of it). Retryable codes (the catalog's `retryable`) are tried again after a backoff
 * delay: the send with its client_id, the subscribe if `subscribed` has not come, the pending
 * read. Other codes fail the send, end the subscription (ENDS_SUBSCRIPTION) or drop the read.
 */
function onErrorFrame(p: SessionParts, code: HeraldClientError['code'], message: string, ref?: string): void {
  const err = new HeraldClientError(code, message, { ref });
  const retry = isRetryable(code);
  if (ref !== undefined) {
    const send = p.sends.refused(ref, err, retry);
    if (send === 'failed') return;
    if (send === 'retry') {
      p.flush();
      return;
    }
    if (p.reads.refused(ref, retry)) p.flush();
    if (retry && ref === p.device.viewing) p.device.restateLater();
    p.conversations.refused(ref, code, retry);
  }
  p.emit('error', err);
}
