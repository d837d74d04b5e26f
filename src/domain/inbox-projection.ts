// The write side of recipient state, in the domain's words: the inbox projection (read and
// delivery markers, recounts, the caller's flags), notice flags and thread read markers. Each
// method is one or two statements taking the caller's transaction (or the connection, where the
// write is one statement of its own); the frames a write sends go through the outbox in the
// same statement or right after it. The domain decides who and whether — seq bounds, `mayRead`,
// whether a moved marker sends a receipt, what a missing row means — and the store decides how.
// src/store/pg implements it for PostgreSQL and PGlite; the host and tests inject it as
// `DomainDeps.projection`.
import type { InboxEntry, Notice, ServerFrame, ThreadEntry } from '../protocol/index.ts';
import type { Sql } from './ports.ts';

export interface InboxFlags {
  archived?: boolean;
  muted?: boolean;
  pinned?: boolean;
}

export interface NoticeFlags {
  read?: boolean;
  archived?: boolean;
  dismissed?: boolean;
  escalated?: boolean;
}

/** A conversation as mark-read decides on it: its head, who may read it, the reader's role. */
export type ReadTarget = {
  last_seq: number;
  kind: string;
  audience: string;
  /** The reader's role; null when they are not a member. */
  role: string | null;
};

export type ReceiptFrame = Extract<ServerFrame, { type: 'receipt' }>;

/** What one delivery ack found and did (the store checked access and the head in the same statement). */
export interface DeliveredRow {
  /** The conversation exists in the tenant. */
  found: boolean;
  /** `mayRead` held for the user (its SQL form, mayReadSql in src/store/pg/sql.ts). */
  allowed: boolean;
  last_seq: number;
  /** The marker moved (and a receipt went to the room when the conversation is small enough). */
  moved: boolean;
  /** The effective delivered seq from before the ack (the statement's snapshot); null: no entry. */
  delivered_before: number | null;
  read_seq: number | null;
}

export interface InboxProjection {
  /**
   * The conversation mark-read checks, and the user's entry row locked in the same statement
   * (waiting for a send that holds it: lockEntrySql, src/store/pg/sql.ts) so the write after it sees that
   * send. null: no such conversation in the tenant.
   */
  lockForRead(tenant: string, user: string, conversation: string): Promise<ReadTarget | null>;
  /**
   * Moves the read marker forward to `seq` (never back; read implies delivered), recounts unread
   * and mentions from the log, bumps the version when it moved. `moved`: last_read_seq grew.
   */
  advanceRead(
    tenant: string,
    user: string,
    conversation: string,
    seq: number,
    largeThreshold: number,
  ): Promise<{ entry: InboxEntry; moved: boolean; delivered_seq: number }>;
  /** The receipt to the room and the entry to the reader's other devices, one statement. */
  publishRead(
    tenant: string,
    user: string,
    conversation: string,
    receipt: ReceiptFrame,
    entry: InboxEntry,
    traceId?: string,
  ): Promise<void>;
  /** Recounts every entry of a conversation from the log, bumps versions, sends each its entry. */
  recount(tenant: string, conversation: string, largeThreshold: number, traceId?: string): Promise<void>;
  /**
   * One delivery ack, one statement: moves the delivered marker to `seq` only for a user who may
   * read the conversation and a seq within (0, head], and only forward; writes the room's receipt
   * when the conversation has at most `detailMax` members.
   */
  advanceDelivered(
    tenant: string,
    user: string,
    conversation: string,
    seq: number,
    detailMax: number,
    traceId?: string,
  ): Promise<DeliveredRow>;
  /** The caller's flags on their entry (row lock first, then the write and its `inbox` frame). */
  setFlags(
    tenant: string,
    user: string,
    conversation: string,
    flags: InboxFlags,
    largeThreshold: number,
    traceId?: string,
  ): Promise<InboxEntry>;
  /** The caller's flags on their copy of a notice and its `notice` frame; null: no such copy. */
  setNoticeFlags(
    tenant: string,
    user: string,
    notice: string,
    flags: NoticeFlags,
    traceId?: string,
  ): Promise<Notice | null>;
  /**
   * Moves a participant's thread read marker forward to `seq` and recounts its unread; null: the
   * user has no entry of that thread (not a participant).
   */
  advanceThreadRead(
    tenant: string,
    user: string,
    rootId: string,
    seq: number,
  ): Promise<{ entry: ThreadEntry; moved: boolean } | null>;
  /** The `thread` frame of an entry to the user's devices. */
  publishThread(tenant: string, user: string, entry: ThreadEntry, traceId?: string): Promise<void>;
  /**
   * A deleted reply (seq `replySeq`) leaves the unread of the thread's participants who had not
   * read it, but `sender`'s. Every participant's entry changed (its root counts one reply fewer:
   * MessageLog.uncountReply first), so each gets a new version and a `thread` frame. One statement.
   */
  forgetReply(
    tenant: string,
    rootId: string,
    replySeq: number,
    sender: string | null,
    traceId?: string,
  ): Promise<void>;
}

/** The projection over a connection or a transaction: `projection(tx)` inside one. */
export type ProjectionStore = (sql: Sql) => InboxProjection;
