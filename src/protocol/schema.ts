// The input shapes of the protocol, defined once (TypeBox → JSON Schema). Everything that
// accepts a message or a client frame derives from here: the HTTP body schemas and OpenAPI
// (src/api/schemas.ts), the compiled WebSocket frame validator (src/gateway/client-frames.ts),
// the domain's shape check (validateInput) and the SDK's send types (src/client). A field
// added to a message input is added here and nowhere else.
//
// Counts and sizes that come from configuration (body bytes, mentions and attachments per
// message) are not in the schema: the domain checks them with their own error codes.
import { type Static, type TOptional, type TSchema, Type } from 'typebox';
import { MAX_SEQ } from './input.ts';
import { type KindFrame, type WireKind, type WireKindShape, wireKinds } from './kinds/index.ts';

/** Field rules shared by every schema below (and quoted in OpenAPI). */
export const inputRules = {
  /** client_id (and the Idempotency-Key it comes from), reply_to, thread_root, conversation ids: 1–128 characters. */
  maxIdLength: 128,
  /** User ids: 1–128 characters, no whitespace. */
  maxUserIdLength: 128,
  userIdPattern: '^\\S+$',
  attachmentNameMax: 255,
  attachmentMimeMax: 255,
  attachmentUrlMax: 2048,
  /** http(s) only: a `javascript:` URL rendered by a client would be an XSS. */
  attachmentUrlPattern: '^https?://\\S+$',
  /** A heartbeat's free-form resource label. */
  resourceMax: 100,
  /** An access token carried by an `auth` frame (a JWT is far below this). */
  tokenMax: 8192,
} as const;

/** Objects reject unknown fields, on every transport. */
export const strict = { additionalProperties: false } as const;

export const IdSchema = Type.String({ minLength: 1, maxLength: inputRules.maxIdLength });
export const UserIdSchema = Type.String({
  minLength: 1,
  maxLength: inputRules.maxUserIdLength,
  pattern: inputRules.userIdPattern,
});
export const SeqSchema = Type.Integer({ minimum: 0, maximum: MAX_SEQ });
export const ClientIdSchema = Type.String({ minLength: 1, maxLength: inputRules.maxIdLength });

export const AttachmentSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: inputRules.attachmentNameMax }),
    mime_type: Type.String({ minLength: 1, maxLength: inputRules.attachmentMimeMax }),
    size: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    url: Type.String({
      minLength: 1,
      maxLength: inputRules.attachmentUrlMax,
      pattern: inputRules.attachmentUrlPattern,
    }),
  },
  strict,
);

type ContentSchemas = {
  [W in WireKind as W extends { content: { field: infer F extends string } } ? F : never]: W extends {
    content: { schema: infer S extends TSchema };
  }
    ? TOptional<S>
    : never;
};

/** The content kinds' input fields (a poll's `poll`), from the list of kinds. */
const contentFields = Object.fromEntries(
  (wireKinds as readonly WireKindShape[]).flatMap((w) =>
    w.content ? [[w.content.field, Type.Optional(w.content.schema)]] : [],
  ),
) as ContentSchemas;

/** What a user writes in a message, whatever the transport. */
const messageFields = {
  ...contentFields,
  body: Type.String(),
  reply_to: Type.Optional(IdSchema),
  /** A reply in the thread of this message (of the same conversation); docs/protocol.md "Threads". */
  thread_root: Type.Optional(IdSchema),
  mentions: Type.Optional(Type.Array(UserIdSchema)),
  attachments: Type.Optional(Type.Array(AttachmentSchema)),
};

/** A message input: the HTTP send body, and what the domain accepts. */
export const MessageInputSchema = Type.Object(
  { ...messageFields, client_id: Type.Optional(ClientIdSchema) },
  strict,
);
export type MessageInputFields = Static<typeof MessageInputSchema>;

const frame = <T extends string, P extends Record<string, TSchema>>(type: T, props: P) =>
  Type.Object({ type: Type.Literal(type), ...props }, strict);

/** Every frame a client may send, by `type`. A frame is one entry here plus its handler. */
export const clientFrameSchemas = {
  auth: frame('auth', { token: Type.String({ minLength: 1, maxLength: inputRules.tokenMax }) }),
  subscribe: frame('subscribe', { conversation: IdSchema, since_seq: Type.Optional(SeqSchema) }),
  unsubscribe: frame('unsubscribe', { conversation: IdSchema }),
  // A WebSocket send names its conversation and must carry its client_id (the ack's key).
  send: frame('send', { conversation: IdSchema, client_id: ClientIdSchema, ...messageFields }),
  read: frame('read', { conversation: IdSchema, seq: SeqSchema }),
  /** A thread's read marker (the conversation's stays), as POST …/threads/{root_id}/read. */
  thread_read: frame('thread_read', { conversation: IdSchema, root_id: IdSchema, seq: SeqSchema }),
  /** What the client has applied (coalesced by the SDK): moves the delivered marker forward. */
  delivered: frame('delivered', { conversation: IdSchema, seq: SeqSchema }),
  view: frame('view', { conversation: Type.Union([IdSchema, Type.Null()]) }),
  typing: frame('typing', { conversation: IdSchema }),
  heartbeat: frame('heartbeat', {
    status: Type.Optional(
      Type.Union([
        Type.Literal('active'),
        Type.Literal('idle'),
        Type.Literal('viewing'),
        Type.Literal('away'),
      ]),
    ),
    resource: Type.Optional(Type.String({ maxLength: inputRules.resourceMax })),
  }),
  ping: frame('ping', {}),
};

/** The kinds' action frames (`react`, `vote`): each names its message and carries the action's args. */
export const kindFrameSchemas = Object.fromEntries(
  (wireKinds as readonly WireKindShape[]).flatMap((w) =>
    Object.values(w.actions).flatMap((a) =>
      a.frame
        ? [[a.frame, frame(a.frame, { conversation: IdSchema, message_id: IdSchema, ...a.args.properties })]]
        : [],
    ),
  ),
) as unknown as Record<KindFrame['type'], TSchema>;

type FrameSchemas = typeof clientFrameSchemas;
export type ClientFrameType = keyof FrameSchemas | KindFrame['type'];
export type ClientFrame =
  | { [K in keyof FrameSchemas]: Static<FrameSchemas[K]> }[keyof FrameSchemas]
  | KindFrame;
export type PresenceStatus = NonNullable<Static<FrameSchemas['heartbeat']>['status']>;
