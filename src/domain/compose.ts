// The shared write path of every message kind (DESIGN §4). A send is one statement of the
// store (MessageLog.send; for PostgreSQL the function `herald_send`, migration 005), which in
// the caller's transaction locks the conversation, checks kind, role, idempotency, reply and
// mentions, assigns the next seq and writes the message, its event, the preview, the outbox
// frames and the per-recipient rows in bulk. Kind modules declare *what* a command sends
// (conversation, sender, kind); the store's kind rules decide *who* receives; this module
// builds the sends once, for one send inside a transaction or for a batch of concurrent sends
// (send-batcher.ts), and turns each refusal into its HeraldError.
import { createHash, randomUUID } from 'node:crypto';
import {
  type Actor,
  type ConversationEvent,
  HeraldError,
  type Message,
  type MessageKind,
  type MessagePreview,
} from '../protocol/index.ts';
import { compileCheck, issuesMessage } from '../protocol/issues.ts';
import { inputRules, MessageInputSchema } from '../protocol/schema.ts';
import { contentKindOf, contentOf } from './content-kinds.ts';
import type { ComposeContext, ConversationRow, DomainDeps, MessageInput } from './context.ts';
import type { Limits } from './limits.ts';
import type { MessageLog, SendSpec } from './message-log.ts';
import type { Sql } from './ports.ts';

export type { ComposeContext, ConversationRow, MessageInput } from './context.ts';
export type { SendSpec } from './message-log.ts';

/** Result of a compose: the message, and whether it was a replay of an earlier send. */
export interface Composed {
  message: Message;
  replayed: boolean;
}

const encoder = new TextEncoder();

export { inputRules };

const checkShape = compileCheck(MessageInputSchema);

/**
 * The checks every kind applies before touching the store: the input's shape (the same
 * compiled schema HTTP and WebSocket validate with, for callers that reach the domain
 * directly), then the caps that come from configuration, each with its own code.
 */
export function validateInput(
  input: MessageInput,
  limits: Limits,
  opts: { allowEmpty?: boolean } = {},
): void {
  const { data: _systemData, ...fields } = input;
  const issues = checkShape(fields);
  if (issues) {
    throw new HeraldError('VALIDATION_FAILED', `${issuesMessage(issues)}.`);
  }
  // A content kind (a poll) is the message: its body may be empty.
  const content = input.data ? null : contentKindOf(input);
  if (content?.field) {
    content.check?.((input as Record<string, unknown>)[content.field] as never, limits);
  } else if (!opts.allowEmpty && input.body.trim() === '' && !input.attachments?.length) {
    throw new HeraldError('EMPTY_BODY');
  }
  const size = encoder.encode(input.body).length;
  if (size > limits.maxBodyBytes) {
    throw new HeraldError('BODY_TOO_LARGE', `The body is ${size} bytes; the cap is ${limits.maxBodyBytes}.`);
  }
  if ((input.mentions?.length ?? 0) > limits.maxMentions) {
    throw new HeraldError('TOO_MANY_MENTIONS', `At most ${limits.maxMentions} mentions per message.`);
  }
  if ((input.attachments?.length ?? 0) > limits.maxAttachments) {
    throw new HeraldError(
      'TOO_MANY_ATTACHMENTS',
      `At most ${limits.maxAttachments} attachments per message.`,
    );
  }
}

/**
 * Locks the conversation row (serializing seq assignment) and reads the
 * actor's role. Throws CONVERSATION_NOT_FOUND for unknown or other-tenant ids.
 */
export async function lockConversation(
  ctx: ComposeContext,
  id: string,
  actor: Actor,
): Promise<ConversationRow> {
  const row = await ctx.writes.log.lock(ctx.tenant, id, actor.type === 'user' ? actor.user_id : null);
  if (!row) throw new HeraldError('CONVERSATION_NOT_FOUND');
  return row;
}

/** A handler's context: the deps' limits and viewing hint, the store's write ports bound to `tx`. */
export function composeContext(
  deps: Pick<DomainDeps, 'writes' | 'limits' | 'viewing'>,
  tx: Sql,
  tenant: string,
  traceId?: string,
): ComposeContext {
  return { tx, writes: deps.writes(tx), tenant, limits: deps.limits, viewing: deps.viewing, traceId };
}

/**
 * Appends an event and sends it to the room (MessageLog.appendEvent). `preview` undefined
 * leaves the conversation's preview as is. Edits, deletes and kind actions use it; a new
 * message's event is written by the send itself (MessageLog.send).
 */
export async function recordEvent(
  ctx: ComposeContext,
  conversation: string,
  seq: number,
  messageId: string,
  event: ConversationEvent,
  preview?: MessagePreview,
): Promise<void> {
  await ctx.writes.log.appendEvent({
    tenant: ctx.tenant,
    conversation,
    seq,
    messageId,
    event,
    preview,
    traceId: ctx.traceId,
  });
}

/** What a command sends, as its kind module declares it. */
export interface SendRequest {
  conversation: string;
  /** null: the system (no membership, no idempotency). */
  sender: string | null;
  /** The message kind; for user kinds also the conversation kind required. */
  kind: MessageKind;
  input: MessageInput;
  /** System events: the users the event is about (they have seen it). */
  subjects?: readonly string[];
  /** System events: the creation event, whose subjects are all members. */
  created?: boolean;
}

/** JSON with object keys sorted at every depth: equal values, equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/**
 * The fingerprint of a send, stored with the message: a replay of its client_id must carry
 * the same one. Absent, null and empty optional fields are the same request; mentions compare
 * as a set; attachments in order.
 */
export function requestHash(conversation: string, input: MessageInput): string {
  const normalized = {
    v: 1,
    conversation,
    body: input.body,
    reply_to: input.reply_to ?? null,
    mentions: [...new Set(input.mentions ?? [])].sort(),
    attachments: input.attachments ?? [],
    data: contentOf(input).data,
    // Only when set: the fingerprints of sends outside threads stay what they were.
    ...(input.thread_root !== undefined ? { thread_root: input.thread_root } : {}),
  };
  return createHash('sha256').update(canonicalJson(normalized)).digest('hex');
}

/**
 * Validates a request and builds its spec. User sends (any sender, and announcements) pass
 * the input rules first: a refused send never reaches the store, nor a batch.
 */
export function specOf(
  tenant: string,
  req: SendRequest,
  o: { limits: Limits; viewers: Iterable<string>; traceId?: string },
): SendSpec {
  if (req.kind !== 'system') validateInput(req.input, o.limits);
  const clientId = req.input.client_id ?? null;
  const content = contentOf(req.input);
  return {
    tenant,
    conversation: req.conversation,
    sender: req.sender,
    kind: req.kind,
    id: randomUUID(),
    body: content.body,
    reply_to: req.input.reply_to ?? null,
    ...(req.input.thread_root !== undefined ? { thread_root: req.input.thread_root } : {}),
    mentions: [...new Set(req.input.mentions ?? [])],
    attachments: req.input.attachments ?? [],
    data: content.data,
    client_id: clientId,
    // Only a user's send is idempotent (the system has no retrying client).
    hash: clientId && req.sender ? requestHash(req.conversation, req.input) : null,
    viewers: [...o.viewers],
    subjects: req.subjects ?? [],
    created: req.created ?? false,
    large: o.limits.largeChannelThreshold,
    trace: o.traceId ?? null,
  };
}

/**
 * The sends' outcomes, in order (MessageLog.send: one statement for all): a Composed, or the
 * HeraldError that refused it (nothing written for it).
 */
export async function composeInTx(
  log: MessageLog,
  specs: readonly SendSpec[],
): Promise<(Composed | HeraldError)[]> {
  const outcomes = await log.send(specs);
  return outcomes.map((r) =>
    'error' in r ? new HeraldError(r.error, r.detail) : { message: r.message, replayed: r.replayed === true },
  );
}

/** One send inside the caller's transaction (commands composed with other writes). */
export async function composeOne(ctx: ComposeContext, req: SendRequest): Promise<Composed> {
  const viewers = await ctx.viewing.viewers(ctx.tenant, req.conversation);
  const spec = specOf(ctx.tenant, req, { limits: ctx.limits, viewers, traceId: ctx.traceId });
  const [out] = await composeInTx(ctx.writes.log, [spec]);
  if (out instanceof HeraldError) throw out;
  return out;
}
