// The read side of the store, in the domain's words: what a reader of a conversation, of their
// own recipient state, of receipts and delivery, of a thread, and a live subscription asks for.
// The store returns rows shaped for the domain; the domain decides who and whether (access.ts
// `mayRead`, the seq bounds, whether a detail list is wanted). src/store/pg implements these for
// PostgreSQL and PGlite with the same SQL; the host and tests inject it as `DomainDeps.reads`.
import type {
  Conversation,
  ConversationEvent,
  ConversationKind,
  InboxEntry,
  Member,
  MemberRole,
  Message,
  Notice,
  ThreadEntry,
} from '../protocol/index.ts';
import type { Sql } from './ports.ts';

/** The most rows any list returns in one page (a store clamps `limit` to it). */
export const MAX_PAGE = 200;
/** The most members one page of a member list holds. */
export const MAX_MEMBER_PAGE = 1000;

/** A keyset page on seq: no bound gives the newest page; pages come back ascending. */
export interface Page {
  after_seq?: number;
  before_seq?: number;
  limit: number;
}

/** A page of a transaction-cursor sync (the inbox, notices): `next_since` is the next cursor. */
export interface SyncPage<T> {
  items: T[];
  next_since: number;
  has_more: boolean;
}

/** A conversation and the reader's place in it: what the access rule is decided on. */
export interface ConversationSeen {
  conversation: Conversation;
  audience: 'members' | 'tenant';
  /** The reader's role; null when they are not a member. */
  role: MemberRole | null;
}

export interface ConversationReader {
  /** The conversation with `user`'s role in it; null: no such conversation in the tenant. */
  seenBy(tenant: string, user: string, id: string): Promise<ConversationSeen | null>;
  /** Its kind (routing a send); null: no such conversation in the tenant. */
  kind(tenant: string, id: string): Promise<ConversationKind | null>;
  /** The main timeline (thread replies are not in it); `has_more` looks in the direction of travel. */
  messages(
    tenant: string,
    conversation: string,
    page: Page,
  ): Promise<{ messages: Message[]; has_more: boolean }>;
  /** The log after `afterSeq`; events of deleted messages carry the erased message, never the old body. */
  events(
    tenant: string,
    conversation: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ events: { seq: number; event: ConversationEvent }[]; has_more: boolean }>;
  /** Members by user id after `after` (keyset). */
  members(
    tenant: string,
    conversation: string,
    after: string | undefined,
    limit: number,
  ): Promise<{ members: Member[]; has_more: boolean }>;
}

/** The user's own recipient state, listed or synced by transaction cursor. */
export interface RecipientStateReader {
  /** No `since`: the conversation list; with it, what changed since (left conversations as removed). */
  inbox(
    tenant: string,
    user: string,
    since: number | undefined,
    limit: number,
    largeThreshold: number,
  ): Promise<SyncPage<InboxEntry>>;
  /** No `since`: newest first; with it, what changed since. */
  notices(tenant: string, user: string, since: number | undefined, limit: number): Promise<SyncPage<Notice>>;
}

export interface ThreadReader {
  /** The root of the thread `id` names (its own id, or a reply's root); null: no such message. */
  root(tenant: string, conversation: string, id: string): Promise<Message | null>;
  /** The thread's replies by keyset on seq, as the main timeline pages. */
  replies(tenant: string, rootId: string, page: Page): Promise<{ messages: Message[]; has_more: boolean }>;
  /** `user`'s thread entries of a conversation, latest reply first (only `rootId`'s when given). */
  entries(
    tenant: string,
    user: string,
    conversation: string,
    limit: number,
    rootId?: string,
  ): Promise<ThreadEntry[]>;
}

export interface ReceiptRow {
  user_id: string;
  /** Read up to (last_read_seq). */
  seq: number;
  /** Delivered up to (never below `seq`: read implies delivered). */
  delivered_seq: number;
}

export type RecipientCounts = {
  count: number;
  delivered: number;
  read: number;
};

export interface RecipientState {
  user_id: string;
  delivered: boolean;
  read: boolean;
}

export interface WebhookOutcome {
  endpoint_id: string;
  webhook_id: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

/** A message as the delivery log starts from it. */
export interface CommittedMessage {
  seq: number;
  sender_id: string | null;
  created_at: Date | string;
  deleted_at: Date | string | null;
}

/**
 * Who received and read what, from what is already recorded (inbox markers, the outbox, webhook
 * rows). Recipients are the members, or every user of the tenant when `tenantWide`.
 */
export interface DeliveryReader {
  /** Recipients counted, delivered and read up to `seq`. */
  receiptCounts(
    tenant: string,
    conversation: string,
    tenantWide: boolean,
    seq: number,
  ): Promise<{ recipients: number; delivered: number; read: number }>;
  /** Every recipient with a position, by user id. */
  receipts(tenant: string, conversation: string, tenantWide: boolean): Promise<ReceiptRow[]>;
  /** The conversation's audience; null: no such conversation in the tenant. */
  audience(tenant: string, conversation: string): Promise<{ kind: string; audience: string } | null>;
  message(tenant: string, conversation: string, id: string): Promise<CommittedMessage | null>;
  /** Whether (and when) the room's event frame of `seq` left the outbox. */
  published(
    tenant: string,
    conversation: string,
    seq: number,
    committed: Date | string,
  ): Promise<{ published: boolean; published_at: string | null }>;
  /** Recipients at the message's commit, but its sender: counts, and each one's state when `detailed`. */
  recipientsAt(
    tenant: string,
    conversation: string,
    tenantWide: boolean,
    m: CommittedMessage,
  ): Promise<RecipientCounts>;
  recipientStatesAt(
    tenant: string,
    conversation: string,
    tenantWide: boolean,
    m: CommittedMessage,
  ): Promise<RecipientState[]>;
  /** The original webhook deliveries of the message's creation event. */
  webhooks(tenant: string, conversation: string, seq: number): Promise<WebhookOutcome[]>;
}

/** A conversation and whether the user is a member, in one snapshot with its head (`last_seq`). */
export type AccessRow = {
  kind: ConversationKind;
  audience: string;
  member_count: number;
  last_seq: number;
  member: boolean;
};

/** An event as stored: its payload's JSON text, never parsed on the way out. */
export interface StoredEvent {
  seq: number;
  payload: string;
}

/** What delivering a conversation live reads: the access check, a subscribe, a replay. */
export interface LiveReader {
  access(tenant: string, conversation: string, user: string): Promise<AccessRow | null>;
  /**
   * The access row and the events (since, since+limit] in one statement (one snapshot); events
   * only when the user may read them. since null: none (live from now). null: no conversation.
   */
  subscribe(
    tenant: string,
    conversation: string,
    user: string,
    since: number | null,
    limit: number,
  ): Promise<{ row: AccessRow; events: StoredEvent[] } | null>;
  /** Events (since, since+limit] and the head in one snapshot; head 0 when there is no conversation. */
  replay(
    tenant: string,
    conversation: string,
    since: number | null,
    limit: number,
  ): Promise<{ head: number; events: StoredEvent[] }>;
}

/**
 * What serving a user's connections reads besides a conversation's events: the tenant's Origin
 * allow-list (the handshake), a room's member ids (a presence snapshot), and the channel sizes
 * the large-channel inbox hints start from (DESIGN §6: more than `threshold` members).
 */
export interface ConnectionReader {
  /** The tenant's allowed origins; null: no such tenant. */
  origins(tenant: string): Promise<string[] | null>;
  /** Up to `limit` of the conversation's member ids. */
  memberIds(tenant: string, conversation: string, limit: number): Promise<string[]>;
  /** Every channel `user` is a member of, and whether it has more than `threshold` members. */
  channelMemberships(
    tenant: string,
    user: string,
    threshold: number,
  ): Promise<{ conversation: string; large: boolean }[]>;
  /** Which of the tenant's channels `ids` have more than `threshold` members now. */
  largeChannelsAmong(tenant: string, ids: readonly string[], threshold: number): Promise<Set<string>>;
}

export interface Reads {
  conversations: ConversationReader;
  recipients: RecipientStateReader;
  threads: ThreadReader;
  delivery: DeliveryReader;
  live: LiveReader;
  connection: ConnectionReader;
}

/** The store's reads over a connection or a transaction: `reads(deps.db)`, or `reads(tx)` inside one. */
export type ReadStore = (sql: Sql) => Reads;
