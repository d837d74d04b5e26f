// The command registry: one entry per message kind. Routing reads the
// command's `kind` (a type), and the mapped type below makes a missing
// handler a compile error. Adding a kind: one file in kinds/, one line here.
import { type Actor, type ConversationKind, HeraldError } from '../protocol/index.ts';
import type { ComposeContext, Composed, MessageInput } from './compose.ts';
import { findBySenderClientId } from './compose.ts';
import { type Announcement, handleAnnouncement } from './kinds/announcement.ts';
import { type ChannelMessage, handleChannelMessage } from './kinds/channel.ts';
import { type DirectMessage, handleDirectMessage } from './kinds/direct.ts';
import { type GroupMessage, handleGroupMessage } from './kinds/group.ts';
import { handleSystemEvent, type SystemEvent } from './kinds/system-event.ts';
import { handleSystemNotice, type NoticeSent, type SystemNotice } from './kinds/system-notice.ts';
import type { Limits } from './limits.ts';
import type { Transactor, ViewingRegistry } from './ports.ts';

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

/** Runs a command in its own transaction. */
export async function execute<C extends Command>(
  deps: DomainDeps,
  tenant: string,
  cmd: C,
  traceId?: string,
): Promise<ResultOf<C>> {
  // The mapped type guarantees handlers[K] takes Extract<Command, {kind: K}>; TS cannot correlate it.
  const handler = handlers[cmd.kind] as unknown as (ctx: ComposeContext, cmd: C) => Promise<ResultOf<C>>;
  try {
    return await deps.db.transaction((tx) =>
      handler({ tx, tenant, limits: deps.limits, viewing: deps.viewing, traceId }, cmd),
    );
  } catch (err) {
    // Two first sends of one client_id raced: the loser's transaction rolled back
    // (no seq consumed); answer with the winner's message.
    // Only sends to different conversations can race this far (one conversation's sends are
    // serialized by its row lock), and an admin's Announcement is a user send too.
    const sender = senderOf(cmd);
    if (isIdempotencyConflict(err) && sender && 'input' in cmd) {
      const earlier = await findBySenderClientId(deps.db, tenant, sender, cmd.input.client_id);
      if (earlier) return { message: earlier, replayed: true } as ResultOf<C>;
    }
    throw err;
  }
}

function senderOf(cmd: Command): Actor | null {
  if ('sender' in cmd) return { type: 'user', user_id: cmd.sender };
  if ('actor' in cmd) return cmd.actor;
  return null;
}

function isIdempotencyConflict(err: unknown): boolean {
  if (err instanceof HeraldError || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; constraint?: string; message?: string };
  return (
    e.code === '23505' &&
    (e.constraint === 'messages_idempotency' || /messages_idempotency/.test(e.message ?? ''))
  );
}
