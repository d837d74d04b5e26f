// The shared write path of every message kind (DESIGN §4): inside the
// caller's transaction, assign the next seq, insert the message and its
// event, refresh the conversation preview, fan out per-recipient rows in
// bulk, and write the outbox rows. Kind handlers decide *who* and *whether*;
// this module decides *how*, once.
import { randomUUID } from 'node:crypto';
import {
  type Actor,
  type Attachment,
  type ConversationKind,
  HeraldError,
  type MemberRole,
  type Message,
  type MessageKind,
  topics,
} from '../protocol/index.ts';
import type { Limits } from './limits.ts';
import type { Row, Sql, ViewingRegistry } from './ports.ts';
import { inboxEntryJson, insertInboxFrames, toMessage, toPreview } from './rows.ts';

/** What a handler needs besides its command. */
export interface ComposeContext {
  tx: Sql;
  tenant: string;
  limits: Limits;
  viewing: ViewingRegistry;
  traceId?: string;
}

export interface MessageInput {
  body: string;
  reply_to?: string | null;
  mentions?: string[];
  attachments?: Attachment[];
  client_id?: string | null;
  data?: Record<string, unknown> | null;
}

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

/** Result of a compose: the message, and whether it was a replay of an earlier send. */
export interface Composed {
  message: Message;
  replayed: boolean;
}

const encoder = new TextEncoder();

/**
 * Field rules of a message input, the one set for every path (HTTP schema, WebSocket
 * `send`, direct domain calls). The HTTP schema is built from these same numbers.
 */
export const inputRules = {
  /** client_id (and the Idempotency-Key it comes from), reply_to: 1–128 characters. */
  maxIdLength: 128,
  /** Mentioned user ids: 1–128 characters, no whitespace. */
  maxUserIdLength: 128,
  userIdPattern: '^\\S+$',
  attachmentNameMax: 255,
  attachmentMimeMax: 255,
  attachmentUrlMax: 2048,
  /** http(s) only: a `javascript:` URL rendered by a client would be an XSS. */
  attachmentUrlPattern: '^https?://\\S+$',
} as const;

// Patterns are kept as JSON Schema strings (the HTTP schema uses them verbatim).
const userIdRe = new RegExp(inputRules.userIdPattern);
const urlRe = new RegExp(inputRules.attachmentUrlPattern);

const invalid = (message: string) => new HeraldError('VALIDATION_FAILED', message);

const isText = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;

function validateAttachment(a: unknown, i: number): void {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) {
    throw invalid(`attachments[${i}] must be a {name, mime_type, size, url} object.`);
  }
  const o = a as Record<string, unknown>;
  if (!isText(o.name, inputRules.attachmentNameMax)) {
    throw invalid(`attachments[${i}].name must be 1–${inputRules.attachmentNameMax} characters.`);
  }
  if (!isText(o.mime_type, inputRules.attachmentMimeMax)) {
    throw invalid(`attachments[${i}].mime_type must be 1–${inputRules.attachmentMimeMax} characters.`);
  }
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw invalid(`attachments[${i}].size must be a non-negative integer.`);
  }
  if (!isText(o.url, inputRules.attachmentUrlMax) || !urlRe.test(o.url)) {
    throw invalid(
      `attachments[${i}].url must be an http(s) URL of at most ${inputRules.attachmentUrlMax} characters.`,
    );
  }
}

/** Schema-independent checks every kind applies before touching the store. */
export function validateInput(
  input: MessageInput,
  limits: Limits,
  opts: { allowEmpty?: boolean } = {},
): void {
  if (typeof input.body !== 'string') throw invalid('body must be a string.');
  if (input.client_id != null && !isText(input.client_id, inputRules.maxIdLength)) {
    throw invalid(`client_id must be 1–${inputRules.maxIdLength} characters.`);
  }
  if (input.reply_to != null && !isText(input.reply_to, inputRules.maxIdLength)) {
    throw invalid(`reply_to must be a message id (1–${inputRules.maxIdLength} characters).`);
  }
  if (input.mentions != null && !Array.isArray(input.mentions)) throw invalid('mentions must be user ids.');
  if (input.attachments != null && !Array.isArray(input.attachments)) {
    throw invalid('attachments must be a list of {name, mime_type, size, url} objects.');
  }
  if (!opts.allowEmpty && input.body.trim() === '' && !input.attachments?.length) {
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
  for (const m of input.mentions ?? []) {
    if (!isText(m, inputRules.maxUserIdLength) || !userIdRe.test(m)) {
      throw invalid(`mentions must be user ids (1–${inputRules.maxUserIdLength} characters, no spaces).`);
    }
  }
  input.attachments?.forEach(validateAttachment);
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
  const userId = actor.type === 'user' ? actor.user_id : null;
  const { rows } = await ctx.tx.query<ConversationRow & Row>(
    `SELECT c.id, c.kind, c.title, c.audience, c.last_seq, c.member_count, m.role
       FROM conversations c
       LEFT JOIN members m ON m.tenant_id = c.tenant_id AND m.conversation_id = c.id AND m.user_id = $3
      WHERE c.tenant_id = $1 AND c.id = $2
      FOR UPDATE OF c`,
    [ctx.tenant, id, userId],
  );
  if (!rows[0]) throw new HeraldError('CONVERSATION_NOT_FOUND');
  return rows[0];
}

/** Returns the earlier message for a repeated (tenant, sender, client_id), if any. */
export async function findBySenderClientId(
  sql: Sql,
  tenant: string,
  actor: Actor,
  clientId: string | null | undefined,
): Promise<Message | null> {
  if (!clientId || actor.type !== 'user') return null;
  const { rows } = await sql.query(
    'SELECT * FROM messages WHERE tenant_id = $1 AND sender_id = $2 AND client_id = $3',
    [tenant, actor.user_id, clientId],
  );
  return rows[0] ? toMessage(rows[0]) : null;
}

/**
 * The common start of a member's send (direct, group, channel): validate,
 * lock the conversation, check its kind and the sender's membership, and
 * find an earlier message with the same client_id (idempotent replay).
 */
export async function openMemberSend(
  ctx: ComposeContext,
  sender: string,
  conversation: string,
  kind: ConversationKind,
  input: MessageInput,
): Promise<{ conv: ConversationRow; actor: Actor; earlier: Message | null }> {
  validateInput(input, ctx.limits);
  const actor: Actor = { type: 'user', user_id: sender };
  const conv = await lockConversation(ctx, conversation, actor);
  if (conv.kind !== kind) throw new HeraldError('INVALID_KIND', `Not a ${kind} conversation.`);
  if (!conv.role) throw new HeraldError('NOT_A_MEMBER');
  const earlier = await findBySenderClientId(ctx.tx, ctx.tenant, actor, input.client_id);
  return { conv, actor, earlier };
}

/** Members of a conversation, read once per compose. */
export async function memberIds(ctx: ComposeContext, conversation: string): Promise<string[]> {
  const { rows } = await ctx.tx.query<{ user_id: string }>(
    'SELECT user_id FROM members WHERE tenant_id = $1 AND conversation_id = $2',
    [ctx.tenant, conversation],
  );
  return rows.map((r) => r.user_id);
}

export interface AppendOptions {
  conversation: ConversationRow;
  actor: Actor;
  kind: MessageKind;
  input: MessageInput;
  /**
   * Users whose inbox entries this message touches. For large channels only
   * the mentioned and the readers; otherwise every recipient (members).
   */
  recipients: readonly string[];
  /** Whether the message counts as unread for recipients (system events do not). */
  countsAsUnread: boolean;
  /** Mentioned users must be among these; undefined: checked against the members table. */
  mentionable?: readonly string[];
  /** Large channels: every current viewer gets the message read, even without an entry yet. */
  includeAllViewers?: boolean;
  /** Recipients who get the message already read besides the sender and viewers. */
  readers?: readonly string[];
}

/** The write path proper. Call inside the transaction after lockConversation. */
export async function appendMessage(ctx: ComposeContext, opts: AppendOptions): Promise<Message> {
  const { conversation, actor, input } = opts;
  const mentions = [...new Set(input.mentions ?? [])];
  const senderId = actor.type === 'user' ? actor.user_id : null;

  if (input.reply_to) {
    const { rows } = await ctx.tx.query(
      'SELECT 1 FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3',
      [ctx.tenant, conversation.id, input.reply_to],
    );
    if (!rows[0]) throw new HeraldError('INVALID_REPLY');
  }
  if (mentions.length > 0) {
    const pool = new Set(opts.mentionable ?? []);
    let unknown = mentions.filter((u) => !pool.has(u));
    if (unknown.length > 0 && opts.mentionable === undefined) {
      // Large channels pass only some recipients: confirm membership in the store.
      const { rows } = await ctx.tx.query<{ user_id: string }>(
        'SELECT user_id FROM members WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = ANY($3::text[])',
        [ctx.tenant, conversation.id, unknown],
      );
      const found = new Set(rows.map((r) => r.user_id));
      unknown = unknown.filter((u) => !found.has(u));
    }
    if (unknown.length > 0) {
      throw new HeraldError('INVALID_MENTION', `Not members: ${unknown.slice(0, 5).join(', ')}.`);
    }
  }

  const id = randomUUID();
  const { rows: msgRows } = await ctx.tx.query(
    `WITH s AS (
       UPDATE conversations SET last_seq = last_seq + 1
        WHERE tenant_id = $1 AND id = $2 RETURNING last_seq)
     INSERT INTO messages (tenant_id, id, conversation_id, seq, kind, sender_id, body, reply_to,
                           mentions, attachments, data, client_id)
     SELECT $1, $3, $2, s.last_seq, $4, $5, $6, $7, $8::text[], $9::jsonb, $10::jsonb, $11 FROM s
     RETURNING *`,
    [
      ctx.tenant,
      conversation.id,
      id,
      opts.kind,
      senderId,
      input.body,
      input.reply_to ?? null,
      mentions,
      JSON.stringify(input.attachments ?? []),
      input.data ? JSON.stringify(input.data) : null,
      input.client_id ?? null,
    ],
  );
  const message = toMessage(msgRows[0]);
  await recordEvent(
    ctx,
    conversation.id,
    message.seq,
    message.id,
    { type: 'message.created', message },
    toPreview(message),
  );

  // Readers: the sender and whoever is viewing the thread right now get it already read.
  let viewers = await ctx.viewing.viewers(
    ctx.tenant,
    conversation.id,
    opts.includeAllViewers ? undefined : opts.recipients,
  );
  if (opts.includeAllViewers && viewers.size > 0) {
    // The viewing registry is TTL'd and checked only when a view starts: someone who left the
    // channel a moment ago may still be listed. They must not get an entry (nor the preview).
    const { rows } = await ctx.tx.query<{ user_id: string }>(
      'SELECT user_id FROM members WHERE tenant_id = $1 AND conversation_id = $2 AND user_id = ANY($3::text[])',
      [ctx.tenant, conversation.id, [...viewers]],
    );
    viewers = new Set(rows.map((r) => r.user_id));
  }
  // Viewers read it on arrival: the room hears their receipts like any mark-read.
  const seers = [...viewers].filter((u) => u !== senderId);
  if (seers.length > 0) {
    await ctx.tx.query(
      `INSERT INTO outbox (tenant_id, topic, payload, trace_id)
       SELECT $1, $2, jsonb_build_object('type', 'receipt', 'conversation', $3::text, 'user_id', u, 'seq', $4::bigint), $5
         FROM unnest($6::text[]) AS u`,
      [
        ctx.tenant,
        topics.conversation(ctx.tenant, conversation.id),
        conversation.id,
        message.seq,
        ctx.traceId ?? null,
        seers,
      ],
    );
  }
  if (senderId) viewers.add(senderId);
  for (const r of opts.readers ?? []) viewers.add(r);
  const recipients = opts.includeAllViewers
    ? [...new Set([...opts.recipients, ...viewers])]
    : opts.recipients;
  await fanOutInbox(ctx, {
    conversation: conversation.id,
    seq: message.seq,
    recipients,
    readers: [...viewers],
    mentions,
    countsAsUnread: opts.countsAsUnread,
  });
  return message;
}

/**
 * Inserts the event row, updates the conversation's preview and writes the
 * room's outbox row — one statement. `preview` undefined leaves it as is.
 */
export async function recordEvent(
  ctx: ComposeContext,
  conversation: string,
  seq: number,
  messageId: string,
  event: import('../protocol/index.ts').ConversationEvent,
  preview?: import('../protocol/index.ts').MessagePreview,
): Promise<void> {
  const frame = { type: 'event', conversation, seq, event };
  await ctx.tx.query(
    `WITH ev AS (
       INSERT INTO events (tenant_id, conversation_id, seq, type, message_id, payload)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb)),
     conv AS (
       UPDATE conversations SET last_message = COALESCE($7::jsonb, last_message),
              last_message_at = CASE WHEN $7::jsonb IS NULL THEN last_message_at ELSE now() END
        WHERE tenant_id = $1 AND id = $2)
     INSERT INTO outbox (tenant_id, topic, payload, trace_id) VALUES ($1, $8, $9::jsonb, $10)`,
    [
      ctx.tenant,
      conversation,
      seq,
      event.type,
      messageId,
      JSON.stringify(event),
      preview ? JSON.stringify(preview) : null,
      topics.conversation(ctx.tenant, conversation),
      JSON.stringify(frame),
      ctx.traceId ?? null,
    ],
  );
}

export interface FanOut {
  conversation: string;
  seq: number;
  recipients: readonly string[];
  readers: readonly string[];
  mentions: readonly string[];
  countsAsUnread: boolean;
}

/**
 * Upserts every recipient's inbox entry and writes one `inbox` frame per
 * recipient to their personal topic, in a single statement whatever the count.
 */
export async function fanOutInbox(ctx: ComposeContext, f: FanOut): Promise<void> {
  if (f.recipients.length === 0) return;
  await ctx.tx.query(
    `WITH r AS (SELECT DISTINCT unnest($3::text[]) AS user_id),
     up AS (
       INSERT INTO inbox_entries AS e (tenant_id, user_id, conversation_id, last_read_seq, unread_count,
                                       mention_count, last_activity_at)
       SELECT $1, r.user_id, $2,
              CASE WHEN r.user_id = ANY($4::text[]) THEN $6::bigint ELSE 0 END,
              CASE WHEN r.user_id = ANY($4::text[]) OR NOT $7 THEN 0 ELSE 1 END,
              CASE WHEN r.user_id = ANY($5::text[]) AND NOT r.user_id = ANY($4::text[]) THEN 1 ELSE 0 END,
              now()
         FROM r
       ON CONFLICT (tenant_id, user_id, conversation_id) DO UPDATE SET
         last_read_seq = GREATEST(e.last_read_seq, EXCLUDED.last_read_seq),
         unread_count = CASE WHEN EXCLUDED.last_read_seq >= $6 THEN 0 ELSE e.unread_count + EXCLUDED.unread_count END,
         mention_count = CASE WHEN EXCLUDED.last_read_seq >= $6 THEN 0 ELSE e.mention_count + EXCLUDED.mention_count END,
         last_activity_at = now(),
         version = nextval('inbox_version')
       RETURNING e.*)
     ${insertInboxFrames({
       tenant: '$1',
       from: 'up e JOIN conversations c ON c.tenant_id = $1 AND c.id = $2',
       entry: inboxEntryJson(ctx.limits.largeChannelThreshold),
       trace: '$8',
     })}`,
    [
      ctx.tenant,
      f.conversation,
      f.recipients,
      f.readers,
      f.mentions,
      f.seq,
      f.countsAsUnread,
      ctx.traceId ?? null,
    ],
  );
}
