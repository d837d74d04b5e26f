// WebSocket frames: discriminated unions by `type`. Imported by the gateway
// and the SDK; adding a frame is a compile error wherever a switch forgets it.
import type { ErrorCode } from './errors.ts';
import type { KindEvent } from './kinds/index.ts';
import type { InboxEntry, Message, MessagePreview, Notice, ThreadEntry, ThreadSummary } from './model.ts';

export const PROTOCOL_VERSION = 1;

// Client frames are defined by their schemas (schema.ts): the gateway's validator and this
// type come from the same definition.
export type { ClientFrame, ClientFrameType, PresenceStatus } from './schema.ts';

import type { PresenceStatus } from './schema.ts';

/** What a presence entry says; `offline` is only ever sent by the server (aged out). */
export type PresenceState = PresenceStatus | 'offline';

export interface PresenceEntry {
  user_id: string;
  device_id: string;
  status: PresenceState;
  resource: string | null;
  last_seen_ms: number;
}

/**
 * Limits announced in `welcome`: beyond `send_*` the server answers `send` with RATE_LIMITED
 * (the user's budget, shared by every socket and HTTP); beyond `frames_*` it closes the socket
 * with RATE_LIMITED (4402). `*_burst` is what may go at once after a quiet period.
 */
export interface WelcomeLimits {
  send_per_sec: number;
  send_burst: number;
  frames_per_sec: number;
  frames_burst: number;
}

export type ServerFrame =
  | {
      type: 'welcome';
      connection_id: string;
      user_id: string;
      tenant_id: string;
      device_id: string;
      heartbeat_ms: number;
      protocol: number;
      expires_at: number;
      /** The socket's limits, so clients can pace themselves (absent from older servers). */
      limits?: WelcomeLimits;
    }
  | { type: 'subscribed'; conversation: string; head_seq: number; replayed: number; complete: boolean }
  | { type: 'unsubscribed'; conversation: string; code: ErrorCode | 'UNSUBSCRIBED' }
  /** `trace`: the W3C trace id of the write, on live frames (docs/observability.md). */
  | { type: 'event'; conversation: string; seq: number; event: WireEvent; trace?: string }
  | { type: 'ack'; client_id: string; conversation: string; seq: number; message_id: string }
  | { type: 'inbox'; entry: InboxEntry; trace?: string }
  /** A thread entry of this user changed (a reply, a mark-read on another device). */
  | { type: 'thread'; entry: ThreadEntry; trace?: string }
  | { type: 'notice'; notice: Notice; trace?: string }
  | {
      type: 'receipt';
      conversation: string;
      user_id: string;
      /** Read up to. */
      seq: number;
      /** Delivered up to (≥ seq); absent from receipts written before delivery receipts. */
      delivered_seq?: number;
      trace?: string;
    }
  /**
   * A large channel (DESIGN §6) moved on while this connection is a member not subscribed to it:
   * no inbox row was written for the user, so the SDK raises its entry's `last_seq` (unread derives
   * as `last_seq − last_read_seq`) without a version bump. Coalesced (≤ 1 per channel per second);
   * `last_message` and `last_activity_at` only when the latest event created a message.
   */
  | {
      type: 'inbox_hint';
      conversation: string;
      last_seq: number;
      last_activity_at?: string;
      last_message?: MessagePreview;
    }
  | { type: 'typing'; conversation: string; user_id: string; ttl_ms: number }
  | { type: 'presence'; conversation: string | null; entries: PresenceEntry[] }
  | { type: 'degraded'; reason: 'backpressure' }
  | { type: 'token_expiring'; expires_at: number }
  | { type: 'drain'; reconnect_after_ms: number }
  | { type: 'error'; code: ErrorCode; message: string; ref?: string }
  | { type: 'pong' };

/**
 * A message as `event` frames carry it: without what the frame and the connection already
 * say (tenant_id, conversation_id, seq) and without defaults (null fields and empty lists
 * are left out). The SDK restores the full Message (src/client/wire.ts).
 */
export type WireMessage = Pick<Message, 'id' | 'kind' | 'sender' | 'body' | 'created_at'> &
  Partial<Omit<Message, 'id' | 'kind' | 'sender' | 'body' | 'created_at'>>;

/** A ConversationEvent in an `event` frame. */
export type WireEvent =
  | { type: 'message.created'; message: WireMessage; thread?: ThreadSummary }
  | { type: 'message.edited'; message: WireMessage }
  | { type: 'message.deleted'; message_id: string; deleted_at: string; thread?: ThreadSummary }
  | KindEvent;

export type ServerFrameType = ServerFrame['type'];

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unhandled ${what}: ${JSON.stringify(value)}`);
}
