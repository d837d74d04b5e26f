// The message log as the domain writes it: the conversation's lock (which serializes seq
// assignment), sends, the events of edits and deletes. Implemented in src/store/pg/message-log.ts.
import type { ConversationEvent, ConversationKind, MemberRole, MessagePreview } from '../protocol/index.ts';

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
}
