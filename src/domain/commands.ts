// The command registry: one entry per message kind. Routing reads the
// command's `kind` (a type), and the mapped type below makes a missing
// handler a compile error. Adding a kind: one file in kinds/, one line here.
import { type ConversationKind, HeraldError } from '../protocol/index.ts';
import type { ComposeContext, Composed, MessageInput, SendRequest } from './compose.ts';
import { composeContext, specOf, validateInput } from './compose.ts';
import { contentKindOf } from './content-kinds.ts';
import type { DomainDeps } from './context.ts';
import { announcementKind } from './kinds/announcement.ts';
import { channelKind } from './kinds/channel.ts';
import type { AnyKind, CommandOf, ResultOfKind, RoutedKinds } from './kinds/define.ts';
import { directKind } from './kinds/direct.ts';
import { groupKind } from './kinds/group.ts';
import { systemEventKind } from './kinds/system-event.ts';
import { systemNoticeKind } from './kinds/system-notice.ts';
import type { Transactor } from './ports.ts';
import { batcherFor } from './send-batcher.ts';

/** The command registry. Adding a conversation kind's command: its file in kinds/, one line here. */
const kinds = [
  directKind,
  groupKind,
  channelKind,
  announcementKind,
  systemNoticeKind,
  systemEventKind,
] as const;

type Kind = (typeof kinds)[number];
export type Command = CommandOf<Kind>;
export type CommandKind = Command['kind'];
type KindNamed<K extends CommandKind> = Extract<Kind, { command: K }>;
export type ResultOf<C extends Command> = ResultOfKind<KindNamed<C['kind']>>;

/** Each command inside a caller's transaction (a SystemEvent within a membership change). */
type Handlers = {
  [K in CommandKind]: (
    ctx: ComposeContext,
    cmd: Extract<Command, { kind: K }>,
  ) => Promise<ResultOfKind<KindNamed<K>>>;
};

export const handlers = Object.fromEntries(kinds.map((k) => [k.command, k.handle])) as Handlers;

/** Every conversation kind takes user sends through one command, except notices (nobody posts there). */
type Unrouted = Exclude<ConversationKind, RoutedKinds<Kind> | 'notices'>;
const everyKindRouted: [Unrouted] extends [never] ? true : Unrouted = true;
void everyKindRouted;

export type { DomainDeps } from './context.ts';

/** The commands a user's send can become (HTTP and WebSocket alike). */
export type UserSend = CommandOf<Extract<Kind, { fromUser: unknown }>>;

const byConversationKind = new Map<ConversationKind, AnyKind>();
for (const k of kinds as readonly AnyKind[]) {
  for (const c of k.conversationKinds) {
    if (byConversationKind.has(c)) throw new Error(`Two commands route sends to ${c} conversations.`);
    byConversationKind.set(c, k);
  }
}
const byCommand = new Map<string, AnyKind>((kinds as readonly AnyKind[]).map((k) => [k.command, k]));

/**
 * Which command a user's send to a conversation of `kind` becomes: the one routing table for
 * HTTP and the gateway, on two axes. The conversation kind picks the command; the content kind
 * (text, or the content field the input carries, e.g. `poll`) must allow that conversation
 * kind, and turns its field into the message's data. Notices take no user messages: INVALID_KIND.
 */
export function commandFor(
  kind: ConversationKind,
  sender: string,
  conversation: string,
  input: MessageInput,
): UserSend {
  const route = byConversationKind.get(kind);
  if (!route?.fromUser) {
    throw new HeraldError(
      'INVALID_KIND',
      kind === 'notices' ? 'Nobody posts to a notices conversation.' : `Unknown conversation kind ${kind}.`,
    );
  }
  const content = contentKindOf(input);
  if (!content.conversationKinds.includes(kind)) {
    throw new HeraldError('INVALID_KIND', `A ${content.name} cannot be sent to a ${kind} conversation.`);
  }
  return route.fromUser(sender, conversation, input) as UserSend;
}

function isUserSend(cmd: Command): cmd is UserSend {
  return byCommand.get(cmd.kind)?.send !== undefined;
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
  return deps.db.transaction((tx) => handler(composeContext(deps, tx, tenant, traceId), cmd));
}

async function sendBatched(
  deps: DomainDeps,
  tenant: string,
  cmd: UserSend,
  traceId?: string,
): Promise<Composed> {
  const toRequest = byCommand.get(cmd.kind)?.send as (
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
  return batcherFor(deps).submit(spec);
}

const KIND_CACHE_MAX = 10_000;
const kindCaches = new WeakMap<Transactor, Map<string, ConversationKind>>();

/**
 * A conversation's kind (routing a send to its command), cached per store: a conversation's
 * kind never changes, so only the first send to it pays the lookup. Unknown ids are not cached.
 */
export async function conversationKindOf(
  deps: DomainDeps,
  tenant: string,
  conversation: string,
): Promise<ConversationKind> {
  const { db } = deps;
  let cache = kindCaches.get(db);
  if (!cache) {
    cache = new Map();
    kindCaches.set(db, cache);
  }
  const key = `${tenant}\0${conversation}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const kind = await deps.reads(db).conversations.kind(tenant, conversation);
  if (!kind) throw new HeraldError('CONVERSATION_NOT_FOUND');
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
