// The command registry: one entry per message kind. Routing reads the
// command's `kind` (a type), and the mapped type below makes a missing
// handler a compile error. Adding a kind: one file in kinds/, one line here.
import { type ConversationKind, HeraldError } from '../protocol/index.ts';
import type { ComposeContext, Composed, MessageInput, SendRequest } from './compose.ts';
import { specOf, validateInput } from './compose.ts';
import { type Announcement, announcementSend, handleAnnouncement } from './kinds/announcement.ts';
import { type ChannelMessage, channelSend, handleChannelMessage } from './kinds/channel.ts';
import { type DirectMessage, directSend, handleDirectMessage } from './kinds/direct.ts';
import { type GroupMessage, groupSend, handleGroupMessage } from './kinds/group.ts';
import { handleSystemEvent, type SystemEvent } from './kinds/system-event.ts';
import { handleSystemNotice, type NoticeSent, type SystemNotice } from './kinds/system-notice.ts';
import type { Limits } from './limits.ts';
import type { Transactor, ViewingRegistry } from './ports.ts';
import { conversationKind } from './queries.ts';
import { batcherFor } from './send-batcher.ts';

export type Command =
  | DirectMessage
  | GroupMessage
  | ChannelMessage
  | Announcement
  | SystemNotice
  | SystemEvent;
export type CommandKind = Command['kind'];

interface Results {
  DirectMessage: Composed;
  GroupMessage: Composed;
  ChannelMessage: Composed;
  Announcement: Composed;
  SystemEvent: Composed;
  SystemNotice: NoticeSent;
}

/** Each command inside a caller's transaction (a SystemEvent within a membership change). */
type Handlers = {
  [K in CommandKind]: (ctx: ComposeContext, cmd: Extract<Command, { kind: K }>) => Promise<Results[K]>;
};

export const handlers: Handlers = {
  DirectMessage: handleDirectMessage,
  GroupMessage: handleGroupMessage,
  ChannelMessage: handleChannelMessage,
  Announcement: handleAnnouncement,
  SystemNotice: handleSystemNotice,
  SystemEvent: handleSystemEvent,
};

export interface DomainDeps {
  db: Transactor;
  limits: Limits;
  viewing: ViewingRegistry;
}

export type ResultOf<C extends Command> = Results[C['kind']];

/** The commands a user's send can become (HTTP and WebSocket alike). */
export type UserSend = DirectMessage | GroupMessage | ChannelMessage | Announcement;

/**
 * Which command a user's send to a conversation of `kind` becomes. The one routing
 * table for HTTP and the gateway. Notices take no user messages: INVALID_KIND.
 */
export function commandFor(
  kind: ConversationKind,
  sender: string,
  conversation: string,
  input: MessageInput,
): UserSend {
  switch (kind) {
    case 'direct':
      return { kind: 'DirectMessage', sender, conversation, input };
    case 'group':
      return { kind: 'GroupMessage', sender, conversation, input };
    case 'channel':
      return { kind: 'ChannelMessage', sender, conversation, input };
    case 'announcement':
      return { kind: 'Announcement', actor: { type: 'user', user_id: sender }, conversation, input };
    case 'notices':
      throw new HeraldError('INVALID_KIND', 'Nobody posts to a notices conversation.');
    default: {
      const unknown: never = kind;
      throw new HeraldError('INVALID_KIND', `Unknown conversation kind ${String(unknown)}.`);
    }
  }
}

/** What each user send sends: on its own, these go through the store's group commit. */
const sends: {
  [K in UserSend['kind']]: (
    deps: DomainDeps,
    tenant: string,
    cmd: Extract<UserSend, { kind: K }>,
  ) => SendRequest | Promise<SendRequest>;
} = {
  DirectMessage: (deps, tenant, cmd) => directSend(deps.db, tenant, cmd),
  GroupMessage: (_deps, _tenant, cmd) => groupSend(cmd),
  ChannelMessage: (_deps, _tenant, cmd) => channelSend(cmd),
  Announcement: (_deps, _tenant, cmd) => announcementSend(cmd),
};

function isUserSend(cmd: Command): cmd is UserSend {
  return cmd.kind in sends;
}

/**
 * Runs a command in its own transaction. User sends share their transaction with other
 * concurrent sends to the same store (group commit, send-batcher.ts); each keeps its own
 * result, and a refusal of one never fails another.
 */
export async function execute<C extends Command>(
  deps: DomainDeps,
  tenant: string,
  cmd: C,
  traceId?: string,
): Promise<ResultOf<C>> {
  if (isUserSend(cmd)) return (await sendBatched(deps, tenant, cmd, traceId)) as ResultOf<C>;
  // The mapped type guarantees handlers[K] takes Extract<Command, {kind: K}>; TS cannot correlate it.
  const handler = handlers[cmd.kind] as unknown as (ctx: ComposeContext, cmd: C) => Promise<ResultOf<C>>;
  return deps.db.transaction((tx) =>
    handler({ tx, tenant, limits: deps.limits, viewing: deps.viewing, traceId }, cmd),
  );
}

async function sendBatched(
  deps: DomainDeps,
  tenant: string,
  cmd: UserSend,
  traceId?: string,
): Promise<Composed> {
  const toRequest = sends[cmd.kind] as (
    d: DomainDeps,
    t: string,
    c: UserSend,
  ) => SendRequest | Promise<SendRequest>;
  // Refused before anything is read or created (a direct message's conversation included).
  validateInput(cmd.input, deps.limits);
  const req = await toRequest(deps, tenant, cmd);
  // Read before the transaction: the registry's round trip is not spent holding a lock.
  const viewers = await deps.viewing.viewers(tenant, req.conversation);
  const spec = specOf(tenant, req, { limits: deps.limits, viewers, traceId });
  return batcherFor(deps.db).submit(spec);
}

const KIND_CACHE_MAX = 10_000;
const kindCaches = new WeakMap<Transactor, Map<string, ConversationKind>>();

/**
 * A conversation's kind (routing a send to its command), cached per store: a conversation's
 * kind never changes, so only the first send to it pays the lookup. Unknown ids are not cached.
 */
export async function conversationKindOf(
  db: Transactor,
  tenant: string,
  conversation: string,
): Promise<ConversationKind> {
  let cache = kindCaches.get(db);
  if (!cache) {
    cache = new Map();
    kindCaches.set(db, cache);
  }
  const key = `${tenant}\0${conversation}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const kind = await conversationKind(db, tenant, conversation);
  rememberConversationKind(db, tenant, conversation, kind);
  return kind;
}

/** A kind read elsewhere (the gateway's subscribe check): the first send there needs no lookup. */
export function rememberConversationKind(
  db: Transactor,
  tenant: string,
  conversation: string,
  kind: ConversationKind,
): void {
  let cache = kindCaches.get(db);
  if (!cache) {
    cache = new Map();
    kindCaches.set(db, cache);
  }
  if (cache.size >= KIND_CACHE_MAX) cache.clear();
  cache.set(`${tenant}\0${conversation}`, kind);
}
