// The generic half of a kind's actions (a reaction, a vote, closing a poll), shared by HTTP
// and WebSocket: the caller must be a member; the message must exist in the conversation, not
// be deleted, and be one the kind applies to; the kind writes its rows; a change takes the
// conversation's next seq and is recorded as the kind's event (with the message's new
// summary) and its room frame, in one transaction with the conversation row locked. A repeat
// that changes nothing records no event and answers with the current summary. Reactions and
// votes do not move the conversation's preview, unread counts or inbox entries.
import { HeraldError, type Message } from '../protocol/index.ts';
import { compileCheck, issuesMessage } from '../protocol/issues.ts';
import type { KindEvent } from '../protocol/kinds/index.ts';
import type { DomainDeps } from './commands.ts';
import { composeContext, lockConversation, recordEvent } from './compose.ts';
import type { KindName } from './kind-store.ts';
import { serverKinds } from './kinds/index.ts';
import type { AnyServerKind } from './kinds/server-kind.ts';

export interface ActionReply {
  message_id: string;
  /** The event's seq; null when nothing changed (a repeat). */
  seq: number | null;
  changed: boolean;
  /** The message's summary as the caller sees it, under the kind's field (`reactions`, `poll`). */
  [summary: string]: unknown;
}

const byName = new Map<string, AnyServerKind>(serverKinds.map((k) => [k.wire.name, k]));
const argChecks = new Map(
  serverKinds.flatMap((k) =>
    Object.entries(k.wire.actions as Record<string, { args: Parameters<typeof compileCheck>[0] }>).map(
      ([name, a]) => [`${k.wire.name}.${name}`, compileCheck(a.args)] as const,
    ),
  ),
);

export interface ActionRequest {
  tenant: string;
  user: string;
  conversation: string;
  messageId: string;
  kind: string;
  action: string;
  args: Record<string, unknown>;
  traceId?: string;
}

export async function runAction(deps: DomainDeps, r: ActionRequest): Promise<ActionReply> {
  const kind = byName.get(r.kind);
  const act = kind?.actions[r.action] as ((call: unknown) => Promise<string | null>) | undefined;
  const check = argChecks.get(`${r.kind}.${r.action}`);
  if (!kind || !act || !check) throw new HeraldError('NOT_FOUND', `No action ${r.kind}.${r.action}.`);
  // The transports validated already; callers that reach the domain directly are checked here.
  const issues = check(r.args);
  if (issues) throw new HeraldError('VALIDATION_FAILED', `${issuesMessage(issues)}.`);
  const field = kind.wire.summary.field;
  return deps.db.transaction(async (tx) => {
    const ctx = composeContext(deps, tx, r.tenant, r.traceId);
    const conv = await lockConversation(ctx, r.conversation, { type: 'user', user_id: r.user });
    if (!conv.role) throw new HeraldError('NOT_A_MEMBER');
    const message = await ctx.writes.log.message(r.tenant, r.conversation, r.messageId);
    if (!message) throw new HeraldError('MESSAGE_NOT_FOUND');
    if (message.deleted_at) throw new HeraldError('MESSAGE_DELETED');
    if (kind.appliesTo && !kind.appliesTo(message)) {
      throw new HeraldError('INVALID_KIND', `That message is not a ${kind.wire.name.replace(/s$/, '')}.`);
    }
    const store = ctx.writes.kinds.of(kind.wire.name as KindName);
    const type = await act({
      store,
      tenant: r.tenant,
      user: r.user,
      conversation: conv,
      message,
      args: r.args,
    });
    let seq: number | null = null;
    if (type) {
      seq = Number(await ctx.writes.log.nextSeq(r.tenant, r.conversation));
      const shared = (await kind.summaries(store, r.tenant, [message.id], null)).get(message.id) ?? kind.none;
      const event = {
        type,
        message_id: message.id,
        user_id: r.user,
        input: r.args,
        [field]: shared,
      } as KindEvent;
      await recordEvent(ctx, r.conversation, seq, message.id, event);
    }
    const mine = (await kind.summaries(store, r.tenant, [message.id], r.user)).get(message.id) ?? kind.none;
    return { message_id: message.id, seq, changed: type !== null, [field]: mine };
  });
}

/**
 * Messages with every kind's summary as `viewer` sees it (history, over a connection): one
 * statement per kind.
 */
export async function withSummaries(
  deps: Pick<DomainDeps, 'db' | 'writes'>,
  tenant: string,
  viewer: string | null,
  messages: Message[],
): Promise<Message[]> {
  if (messages.length === 0) return messages;
  const live = messages.filter((m) => !m.deleted_at);
  const store = deps.writes(deps.db).kinds;
  // A kind reads only the messages it applies to: a page without polls costs polls no statement.
  const found = await Promise.all(
    serverKinds.map((k) => {
      const ids = live.filter((m) => !k.appliesTo || k.appliesTo(m)).map((m) => m.id);
      return ids.length
        ? k.summaries(store.of(k.wire.name as KindName), tenant, ids, viewer)
        : new Map<string, unknown>();
    }),
  );
  return messages.map((m) => {
    let out = m;
    serverKinds.forEach((k, i) => {
      const s = found[i].get(m.id);
      if (s !== undefined) out = { ...out, [k.wire.summary.field]: s };
    });
    return out;
  });
}
