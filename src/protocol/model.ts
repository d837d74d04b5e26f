// Wire shapes of the things Herald stores and delivers. Snake_case on the
// wire, matching the HTTP API and the database columns.
import type { Static } from 'typebox';
import type { KindEvent, KindSummaries } from './kinds/index.ts';
import type { AttachmentSchema } from './schema.ts';

export const CONVERSATION_KINDS = ['direct', 'group', 'channel', 'announcement', 'notices'] as const;
export type ConversationKind = (typeof CONVERSATION_KINDS)[number];

export const MEMBER_ROLES = ['member', 'moderator', 'admin'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

/** Message kinds: one per compose command. */
export const MESSAGE_KINDS = ['direct', 'group', 'channel', 'announcement', 'notice', 'system'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** An attachment as sent and as stored (its schema: schema.ts). */
export type Attachment = Static<typeof AttachmentSchema>;

export type Sender = { type: 'user'; user_id: string } | { type: 'system' };

/** A message; the kinds' summaries (reactions, a poll's tallies) ride along when there are any. */
export interface Message extends KindSummaries {
  id: string;
  tenant_id: string;
  conversation_id: string;
  seq: number;
  kind: MessageKind;
  sender: Sender;
  body: string;
  reply_to: string | null;
  mentions: string[];
  attachments: Attachment[];
  client_id: string | null;
  /** System events carry their structured payload here (e.g. {event:'joined', user_id}). */
  data: Record<string, unknown> | null;
  created_at: string;
  edited_at: string | null;
  deleted_at: string | null;
  /** A thread reply: the root message of its thread. Absent outside threads. */
  thread_root?: string;
  /** A thread root: its replies so far, and when the last came. Absent before the first reply. */
  reply_count?: number;
  last_reply_at?: string;
}

/** The root's count after a reply (its `message.created` event) or a reply's delete (its `message.deleted`). */
export interface ThreadSummary {
  root_id: string;
  reply_count: number;
  last_reply_at: string;
}

/** A participant's own state of one thread (its author, repliers and those mentioned in it). */
export interface ThreadEntry {
  conversation_id: string;
  root_id: string;
  reply_count: number;
  last_reply_at: string | null;
  /** The seq of the last reply this user has read. */
  last_read_seq: number;
  /** Others' replies after last_read_seq. */
  unread_count: number;
  /** Grows with every change: a device keeps the entry of the highest version. */
  version: number;
}

/** Every change to a conversation is an event with its own seq. */
export type ConversationEvent =
  | { type: 'message.created'; message: Message; thread?: ThreadSummary }
  | { type: 'message.edited'; message: Message }
  | { type: 'message.deleted'; message_id: string; deleted_at: string; thread?: ThreadSummary }
  /** An action of a kind on a message (a reaction, a vote), with the message's new summary. */
  | KindEvent;

export type ConversationEventType = ConversationEvent['type'];

export interface Conversation {
  id: string;
  tenant_id: string;
  kind: ConversationKind;
  title: string | null;
  last_seq: number;
  member_count: number;
  last_message: MessagePreview | null;
  created_at: string;
}

export interface MessagePreview {
  message_id: string;
  seq: number;
  sender: Sender;
  body: string;
  kind: MessageKind;
  created_at: string;
}

export interface Member {
  user_id: string;
  role: MemberRole;
  joined_at: string;
}

/** A recipient's own state of one conversation. */
export interface InboxEntry {
  conversation_id: string;
  kind: ConversationKind;
  title: string | null;
  last_seq: number;
  last_read_seq: number;
  unread_count: number;
  mention_count: number;
  archived: boolean;
  muted: boolean;
  pinned: boolean;
  last_activity_at: string;
  last_message: MessagePreview | null;
  version: number;
  /**
   * True when the user left or was removed: drop the entry. Only sent in `inbox` frames and
   * in `GET /v1/inbox?since=` pages (never in the plain list); such an entry carries no
   * title or preview and zero counts.
   */
  removed?: boolean;
}

export interface Notice {
  id: string;
  title: string;
  body: string;
  data: Record<string, unknown> | null;
  created_at: string;
  read: boolean;
  archived: boolean;
  dismissed: boolean;
  escalated: boolean;
  version: number;
}

export interface Receipt {
  conversation: string;
  user_id: string;
  /** Read up to. */
  seq: number;
  /** Delivered up to (≥ seq; equal to seq from servers without delivery receipts). */
  delivered_seq: number;
}

/** Who performs a command: a user, or the system (tenant backend, Herald itself). */
export type Actor = Sender;

/** The most characters (code points, as PostgreSQL's `left()` counts) a preview's body keeps. */
export const PREVIEW_CHARS = 140;

/**
 * A message body cut to a preview: by code points, like the send's SQL (`left(body, 140)`), so
 * an edit's or a hint's preview equals the send's and never splits a surrogate pair.
 */
export function previewBody(body: string): string {
  if (body.length <= PREVIEW_CHARS) return body;
  let out = '';
  let n = 0;
  for (const ch of body) {
    if (n++ === PREVIEW_CHARS) break;
    out += ch;
  }
  return out;
}

/**
 * A thread's root with the count a `thread` summary carries (a reply's `message.created`, a
 * deleted reply's `message.deleted`): at 0 the root has no count, as history renders it.
 */
export function withThreadSummary(root: Message, t: ThreadSummary): Message {
  const { reply_count: _count, last_reply_at: _last, ...rest } = root;
  return t.reply_count > 0 ? { ...rest, reply_count: t.reply_count, last_reply_at: t.last_reply_at } : rest;
}
