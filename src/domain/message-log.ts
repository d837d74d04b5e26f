// The message log as the domain writes it: the conversation's lock (which serializes seq
// assignment), sends, the events of edits and deletes, and what an edit or a delete changes
// beside its event (the message row, the copies of a deleted body, the inbox entries that show
// it). The domain decides who and whether — roles, authorship, whether a change is the
// preview, which counts drop — and the store decides how. Implemented in
// src/store/pg/message-log.ts.
import type {
  Attachment,
  ConversationEvent,
  ConversationKind,
  ErrorCode,
  MemberRole,
  Message,
  MessageKind,
  MessagePreview,
  ThreadSummary,
} from '../protocol/index.ts';

/** A conversation as the write path reads it, under its lock. */
export interface ConversationRow {
  id: string;
  kind: ConversationKind;
  title: string | null;
  audience: 'members' | 'tenant';
  last_seq: number;
  member_count: number;
  /** The actor's role, when the actor is a member. */
  role: MemberRole | null;
}

/** One send as the store takes it (`herald_send_one`, migration 005): built by compose.ts `specOf`. */
export interface SendSpec {
  tenant: string;
  conversation: string;
  sender: string | null;
  kind: MessageKind;
  id: string;
  body: string;
  reply_to: string | null;
  /** Absent for an ordinary message: the spec's JSON stays as it was. */
  thread_root?: string;
  mentions: string[];
  attachments: Attachment[];
  data: Record<string, unknown> | null;
  client_id: string | null;
  hash: string | null;
  viewers: string[];
  subjects: readonly string[];
  created: boolean;
  large: number;
  trace: string | null;
}

/** What the store answers for one send: its message (a replay: an earlier send's), or its refusal. */
export type SendOutcome = { message: Message; replayed?: boolean } | { error: ErrorCode; detail?: string };

/** What a failed `send` statement left behind, as the store reads its error. */
export type SendFailure =
  /**
   * The store answered with an error: the statement rolled back and nothing of it was written.
   * `retryable`: a deadlock or a serialization failure, which the same statement may not meet again.
   */
  | { outcome: 'rolled-back'; retryable: boolean }
  /** No answer (the connection lost mid-statement, a reply that never came): it may have committed. */
  | { outcome: 'unknown' };

/** What an edit or a delete changes in the inbox entries of a conversation's recipients. */
export interface InboxChange {
  tenant: string;
  conversation: string;
  /** Every entry shows the conversation's new preview (the changed message was the latest). */
  previewChanged: boolean;
  /**
   * A deleted message, as it was before: entries that had not read it (`seq`) count it no more
   * as unread when it counted (`counted`; never for its sender) and as a mention for the users
   * it mentioned.
   */
  removed: { seq: number; sender: string | null; mentions: readonly string[]; counted: boolean } | null;
  /**
   * A large channel (DESIGN §6): unread derives from seqs and entries carry no preview, so only
   * the mentioned users' entries change, and only their mention counts.
   */
  large: boolean;
  /** The large-channel threshold the entries' JSON derives unread with. */
  largeThreshold: number;
  traceId?: string;
}

export interface MessageLog {
  /**
   * Locks the conversation row (serializing seq assignment) and reads the user's role in it
   * (null: not a member, or no user). null: no such conversation in the tenant.
   */
  lock(tenant: string, conversation: string, user: string | null): Promise<ConversationRow | null>;
  /** Takes the conversation's next seq (under its lock: `lock` first). */
  nextSeq(tenant: string, conversation: string): Promise<number>;
  /**
   * Appends an event at `seq` and sends it to the conversation's room as an `event` frame; a
   * `preview` also becomes the conversation's preview. One statement. A new message's event is
   * written by the send itself (`herald_send`); edits, deletes and kind actions come here.
   */
  appendEvent(e: {
    tenant: string;
    conversation: string;
    seq: number;
    messageId: string;
    event: ConversationEvent;
    preview?: MessagePreview;
    traceId?: string;
  }): Promise<void>;
  /**
   * Runs sends, each under its conversation's lock with its own seq, in one statement however
   * many there are: every send's outcome, in order. A refusal writes nothing and leaves the
   * others be. Over a connection the statement is its own transaction (the group commit).
   */
  send(specs: readonly SendSpec[]): Promise<SendOutcome[]>;
  /** What a `send` that threw left behind. */
  sendFailure(err: unknown): SendFailure;
  /** A message of the conversation as stored now; null: none. */
  message(tenant: string, conversation: string, id: string): Promise<Message | null>;
  /** Whether the message is the conversation's preview (its latest message). */
  isPreview(tenant: string, conversation: string, id: string): Promise<boolean>;
  /** Sets a message's body, edited now; the message as it is after. */
  edit(tenant: string, conversation: string, id: string, body: string): Promise<Message>;
  /** Erases a message — body, attachments and mentions — deleted now; the message as it is after. */
  erase(tenant: string, conversation: string, id: string): Promise<Message>;
  /**
   * Puts the erased message in place of its copies: its created and edited events in the log
   * (replayed on catch-up) and the outbox frames that carry it or its preview.
   */
  eraseCopies(tenant: string, conversation: string, erased: Message): Promise<void>;
  /**
   * A reply of the thread `root` was deleted: the root counts one reply fewer (its
   * `last_reply_at` stays: when the last reply came). The root's count after it.
   */
  uncountReply(tenant: string, root: string): Promise<ThreadSummary>;
  /** Rewrites the entries an edit or a delete changes, each with an `inbox` frame. One statement. */
  refreshInboxes(change: InboxChange): Promise<void>;
}
