// The user's messaging use cases, called by both transports: HTTP routes and the gateway's
// WebSocket frame handlers parse, call one of these and render. Each owns what must not differ
// between transports: the send budget, the kind lookup and routing, the access check and the
// transaction. The domain below decides who and whether; nothing here knows HTTP or sockets.
import { readableConversation } from '../domain/access.ts';
import { commandFor, conversationKindOf, type DomainDeps, execute } from '../domain/commands.ts';
import type { Composed, MessageInput } from '../domain/compose.ts';
import { type DeliveredResult, markDelivered } from '../domain/delivery-marker.ts';
import { deleteMessage, editMessage } from '../domain/edits.ts';
import { type ActionReply, runAction, withSummaries } from '../domain/kind-actions.ts';
import { markRead } from '../domain/read-marker.ts';
import type { Page } from '../domain/read-ports.ts';
import { type Receipts, receiptsOf } from '../domain/receipts.ts';
import type { InboxFlags } from '../domain/recipient-state.ts';
import type { ConversationEvent, InboxEntry, Message } from '../protocol/index.ts';

/** Who calls: a user of a tenant, and the trace the call belongs to. */
export interface Caller {
  tenant: string;
  user: string;
  /** W3C traceparent of the request (HTTP header, or one started for a frame). */
  trace?: string;
}

/**
 * The per-user send budget: one instance for HTTP and WebSocket, so more sockets are not more
 * sends. Rejects with RATE_LIMITED (with retryAfter) when it is used up.
 */
export interface UserLimiter {
  take(tenant: string, user: string): Promise<void>;
  /** The average rate and the burst it allows, announced in `welcome.limits`. */
  readonly rate?: { perSec: number; burst: number };
}

export interface EventPage {
  conversation: string;
  events: { seq: number; event: ConversationEvent }[];
  head_seq: number;
  has_more: boolean;
}

export interface Messaging {
  /** A user's message to a conversation, routed by its kind; a repeat of a client_id is `replayed`. */
  send(c: Caller, conversation: string, input: MessageInput): Promise<Composed>;
  edit(c: Caller, conversation: string, messageId: string, body: string): Promise<Message>;
  remove(c: Caller, conversation: string, messageId: string): Promise<Message>;
  read(c: Caller, conversation: string, seq: number): Promise<{ entry: InboxEntry; moved: boolean }>;
  delivered(c: Caller, conversation: string, seq: number): Promise<DeliveredResult>;
  history(c: Caller, conversation: string, page: Page): Promise<{ messages: Message[]; has_more: boolean }>;
  events(c: Caller, conversation: string, afterSeq: number, limit: number): Promise<EventPage>;
  receipts(c: Caller, conversation: string, seq?: number): Promise<Receipts>;
  inbox: (
    c: Caller,
    since: number | undefined,
    limit: number,
  ) => Promise<{ items: InboxEntry[]; next_since: number; has_more: boolean }>;
  setInboxFlags(c: Caller, conversation: string, flags: InboxFlags): Promise<InboxEntry>;
  /** A kind's action on a message (a reaction, a vote, closing a poll: src/protocol/kinds/). */
  act(c: Caller, target: KindAction): Promise<ActionReply>;
}

export interface KindAction {
  conversation: string;
  messageId: string;
  kind: string;
  action: string;
  args: Record<string, unknown>;
}

export function messaging(deps: DomainDeps, sendLimiter: UserLimiter): Messaging {
  const { db, limits } = deps;
  // The store's reads outside a transaction, bound once.
  const reads = deps.reads(db);
  return {
    async send(c, conversation, input) {
      // Checked before anything is read or written: over the limit changes nothing.
      await sendLimiter.take(c.tenant, c.user);
      const kind = await conversationKindOf(deps, c.tenant, conversation);
      return execute(deps, c.tenant, commandFor(kind, c.user, conversation, input), c.trace);
    },
    edit: (c, conversation, messageId, body) =>
      editMessage(deps, c.tenant, c.user, conversation, messageId, body, c.trace),
    remove: (c, conversation, messageId) =>
      deleteMessage(deps, c.tenant, c.user, conversation, messageId, c.trace),
    read: (c, conversation, seq) => markRead(deps, c.tenant, c.user, conversation, seq, c.trace),
    delivered: (c, conversation, seq) => markDelivered(deps, c.tenant, c.user, conversation, seq, c.trace),
    async history(c, conversation, page) {
      await readableConversation(reads.conversations, c.tenant, c.user, conversation);
      const found = await reads.conversations.messages(c.tenant, conversation, page);
      // Reactions, a poll's tallies: each kind's summary, as this user sees it.
      return { ...found, messages: await withSummaries(deps, c.tenant, c.user, found.messages) };
    },
    async events(c, conversation, afterSeq, limit) {
      const { conversation: conv } = await readableConversation(
        reads.conversations,
        c.tenant,
        c.user,
        conversation,
      );
      const page = await reads.conversations.events(c.tenant, conv.id, afterSeq, limit);
      return { conversation: conv.id, events: page.events, head_seq: conv.last_seq, has_more: page.has_more };
    },
    async receipts(c, conversation, seq) {
      const readable = await readableConversation(reads.conversations, c.tenant, c.user, conversation);
      return receiptsOf(reads.delivery, c.tenant, readable, limits.receiptDetailMax, seq);
    },
    inbox: (c, since, limit) =>
      reads.recipients.inbox(c.tenant, c.user, since, limit, limits.largeChannelThreshold),
    async act(c, t) {
      // Actions share the send budget: a reaction storm is throttled like a message storm.
      await sendLimiter.take(c.tenant, c.user);
      return runAction(deps, { tenant: c.tenant, user: c.user, ...t, traceId: c.trace });
    },
    setInboxFlags: (c, conversation, flags) =>
      db.transaction(async (tx) => {
        await readableConversation(deps.reads(tx).conversations, c.tenant, c.user, conversation);
        return deps
          .projection(tx)
          .setFlags(c.tenant, c.user, conversation, flags, limits.largeChannelThreshold, c.trace);
      }),
  };
}
