import { type TSchema, Type } from 'typebox';
import { CONVERSATION_KINDS, MEMBER_ROLES, MESSAGE_KINDS } from '../protocol/index.ts';
import { type WireKindShape, wireKinds } from '../protocol/kinds/index.ts';
import { AttachmentSchema as AttachmentInput, strict } from '../protocol/schema.ts';
import { ErrorSchema } from './error-replies.ts';
import {
  DeviceSchema,
  PushDeliverySchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
} from './responses-integrations.ts';

export { DeviceSchema, PushDeliverySchema, WebhookDeliverySchema, WebhookEndpointSchema };

// Response schemas: what each route answers, rendered into /openapi.json as
// named components (generators make one type per `$id`). They describe the
// wire shapes of src/protocol/model.ts; test/api/openapi.test.ts checks every
// route's real answers against them, so a field added to the model without
// being declared here fails that test. Fastify does not serialize by them
// (app.ts keeps JSON.stringify): the output is byte-for-byte what the handler
// returned.

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
const Timestamp = Type.String({ description: 'ISO 8601 timestamp' });
const Int = Type.Integer({ minimum: 0 });
// `type: 'string'` beside the enum: generators (openapi-typescript) then type the values as strings.
const enumOf = (values: readonly string[]) => Type.Enum([...values], { type: 'string' });

export const SenderSchema = Type.Union(
  [
    Type.Object({ type: Type.Literal('user'), user_id: Type.String() }, strict),
    Type.Object({ type: Type.Literal('system') }, strict),
  ],
  { $id: 'Sender', description: 'A user, or the system (tenant backend, Herald itself).' },
);
export const AttachmentSchema = Type.Object(AttachmentInput.properties, { ...strict, $id: 'Attachment' });
export const MessageSchema = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    conversation_id: Type.String(),
    seq: Int,
    kind: enumOf(MESSAGE_KINDS),
    sender: Type.Ref('Sender'),
    body: Type.String(),
    reply_to: Nullable(Type.String()),
    mentions: Type.Array(Type.String()),
    attachments: Type.Array(Type.Ref('Attachment')),
    client_id: Nullable(Type.String()),
    data: Nullable(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'System events: their payload; content kinds: their content (`poll`)',
      }),
    ),
    created_at: Timestamp,
    edited_at: Nullable(Timestamp),
    deleted_at: Nullable(Timestamp),
    thread_root: Type.Optional(Type.String({ description: 'A thread reply: its root message.' })),
    reply_count: Type.Optional(Type.Integer({ minimum: 1, description: 'A thread root: its replies.' })),
    last_reply_at: Type.Optional(Timestamp),
    ...kindSummaryFields(),
  },
  { ...strict, $id: 'Message' },
);
export const MessagePreviewSchema = Type.Object(
  {
    message_id: Type.String(),
    seq: Int,
    sender: Type.Ref('Sender'),
    body: Type.String(),
    kind: enumOf(MESSAGE_KINDS),
    created_at: Timestamp,
  },
  { ...strict, $id: 'MessagePreview' },
);
export const ConversationSchema = Type.Object(
  {
    id: Type.String(),
    tenant_id: Type.String(),
    kind: enumOf(CONVERSATION_KINDS),
    title: Nullable(Type.String()),
    last_seq: Int,
    member_count: Int,
    last_message: Nullable(Type.Ref('MessagePreview')),
    created_at: Timestamp,
  },
  { ...strict, $id: 'Conversation' },
);
export const MemberSchema = Type.Object(
  { user_id: Type.String(), role: enumOf(MEMBER_ROLES), joined_at: Timestamp },
  { ...strict, $id: 'Member' },
);
/** Each kind's summary on a message (history), from the list of kinds. */
function kindSummaryFields(): Record<string, TSchema> {
  return Object.fromEntries(
    (wireKinds as readonly WireKindShape[]).map((w) => [w.summary.field, Type.Optional(w.summary.schema)]),
  );
}

/** A union of several schemas, or the one schema itself (OpenAPI linters refuse a one-member anyOf). */
const unionOf = (schemas: TSchema[]): TSchema => (schemas.length === 1 ? schemas[0] : Type.Union(schemas));

/** The kinds' events (reaction.added, poll.voted …): who did what to which message, and its new summary. */
const kindEventSchemas = (wireKinds as readonly WireKindShape[]).map((w) =>
  Type.Object(
    {
      type: unionOf(w.events.map((e) => Type.Literal(e))),
      message_id: Type.String(),
      user_id: Type.String(),
      input: unionOf(Object.values(w.actions).map((a) => a.args)),
      [w.summary.field]: w.summary.schema,
    },
    strict,
  ),
);

const ThreadSummarySchema = Type.Object(
  { root_id: Type.String(), reply_count: Int, last_reply_at: Timestamp },
  { ...strict, description: "A thread reply's event (created or deleted): its root's count after it." },
);

export const ConversationEventSchema = Type.Union(
  [
    ...kindEventSchemas,
    Type.Object(
      {
        type: Type.Union([Type.Literal('message.created'), Type.Literal('message.edited')]),
        message: Type.Ref('Message'),
        thread: Type.Optional(ThreadSummarySchema),
      },
      strict,
    ),
    Type.Object(
      {
        type: Type.Literal('message.deleted'),
        message_id: Type.String(),
        deleted_at: Timestamp,
        thread: Type.Optional(ThreadSummarySchema),
      },
      strict,
    ),
  ],
  { $id: 'ConversationEvent', description: 'The `event` of the WebSocket `event` frame.' },
);
export const InboxEntrySchema = Type.Object(
  {
    conversation_id: Type.String(),
    kind: enumOf(CONVERSATION_KINDS),
    title: Nullable(Type.String()),
    last_seq: Int,
    last_read_seq: Int,
    unread_count: Int,
    mention_count: Int,
    archived: Type.Boolean(),
    muted: Type.Boolean(),
    pinned: Type.Boolean(),
    last_activity_at: Timestamp,
    last_message: Nullable(Type.Ref('MessagePreview')),
    version: Type.Integer({ description: 'Orders the states of one entry: keep the highest.' }),
    removed: Type.Optional(Type.Boolean({ description: 'You left or were removed: drop the entry.' })),
  },
  { ...strict, $id: 'InboxEntry' },
);
export const NoticeSchema = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    body: Type.String(),
    data: Nullable(Type.Record(Type.String(), Type.Unknown())),
    created_at: Timestamp,
    read: Type.Boolean(),
    archived: Type.Boolean(),
    dismissed: Type.Boolean(),
    escalated: Type.Boolean(),
    version: Type.Integer(),
  },
  { ...strict, $id: 'Notice' },
);
export const TokenPairSchema = Type.Object(
  {
    access_token: Type.String(),
    refresh_token: Type.String(),
    expires_in: Type.Integer({ description: 'Seconds until the access token expires.' }),
    tenant_id: Type.String({ description: 'The active tenant.' }),
    user_id: Type.String(),
    tenants: Type.Array(Type.String(), { description: 'Tenants this session may act in, active first.' }),
  },
  { ...strict, $id: 'TokenPair' },
);
export const ReceiptCountsSchema = Type.Object(
  {
    seq: Type.Integer({ minimum: 0, description: 'The seq counted against.' }),
    recipients: Type.Integer({ minimum: 0 }),
    delivered: Type.Integer({
      minimum: 0,
      description: 'Recipients whose client acknowledged ≥ seq (or read it).',
    }),
    read: Type.Integer({ minimum: 0, description: 'Recipients who read ≥ seq.' }),
  },
  { ...strict, $id: 'ReceiptCounts', description: 'How many recipients received and read up to a seq.' },
);
const SyncCursor = Type.Integer({ description: 'Opaque cursor: pass as `since` to sync on.' });
/** Every shared response schema; app.ts registers them (app.addSchema) before the routes. */
export const sharedSchemas: TSchema[] = [
  SenderSchema,
  AttachmentSchema,
  MessageSchema,
  MessagePreviewSchema,
  ConversationSchema,
  MemberSchema,
  ConversationEventSchema,
  InboxEntrySchema,
  NoticeSchema,
  TokenPairSchema,
  WebhookEndpointSchema,
  WebhookDeliverySchema,
  DeviceSchema,
  PushDeliverySchema,
  ReceiptCountsSchema,
  ErrorSchema,
];

/** Shapes of the routes' success bodies (each a reference or a small object of references). */
export const Replies = {
  TokenPair: Type.Ref('TokenPair', { description: "A user's token pair" }),
  Tenant: Type.Object(
    {
      tenant_id: Type.String(),
      api_key: Type.String({ description: 'Returned once; Herald stores only its hash.' }),
    },
    { ...strict, description: 'The tenant and its API key' },
  ),
  Granted: Type.Object(
    { tenants: Type.Array(Type.String()) },
    { ...strict, description: "The user's tenants" },
  ),
  Revoked: Type.Object(
    { revoked: Type.Boolean({ description: 'False: there was no such grant.' }) },
    { ...strict, description: 'Whether a grant was withdrawn' },
  ),
  Conversation: Type.Object(
    { conversation: Type.Ref('Conversation') },
    { ...strict, description: 'The conversation' },
  ),
  Joined: Type.Object(
    {
      conversation: Type.Ref('Conversation'),
      joined: Type.Boolean({ description: 'False: already a member.' }),
    },
    { ...strict, description: 'The channel, and whether you joined now' },
  ),
  Added: Type.Object(
    {
      conversation_id: Type.String(),
      added: Type.Array(Type.String(), { description: 'Users newly added.' }),
    },
    { ...strict, description: 'Who was added' },
  ),
  Removed: Type.Object(
    { conversation_id: Type.String(), removed: Type.String() },
    { ...strict, description: 'Who was removed' },
  ),
  MemberPage: Type.Object(
    { members: Type.Array(Type.Ref('Member')), has_more: Type.Boolean() },
    { ...strict, description: 'A page of members, by user id' },
  ),
  Message: Type.Object({ message: Type.Ref('Message') }, { ...strict, description: 'The message' }),
  MessagePage: Type.Object(
    { messages: Type.Array(Type.Ref('Message')), has_more: Type.Boolean() },
    { ...strict, description: 'A page of messages, ascending by seq' },
  ),
  EventPage: Type.Object(
    {
      conversation: Type.String(),
      events: Type.Array(Type.Object({ seq: Int, event: Type.Ref('ConversationEvent') }, strict)),
      head_seq: Int,
      has_more: Type.Boolean(),
    },
    { ...strict, description: 'A page of the event log, ascending by seq' },
  ),
  Entry: Type.Object({ entry: Type.Ref('InboxEntry') }, { ...strict, description: 'Your inbox entry' }),
  Receipts: Type.Object(
    {
      detailed: Type.Boolean({
        description: 'True: `receipts` lists every recipient with a position (small conversations).',
      }),
      receipts: Type.Array(
        Type.Object(
          {
            user_id: Type.String(),
            seq: Type.Integer({ minimum: 0, description: 'Read up to.' }),
            delivered_seq: Type.Integer({ minimum: 0, description: 'Delivered up to (≥ seq).' }),
          },
          strict,
        ),
      ),
      counts: Type.Ref('ReceiptCounts'),
    },
    { ...strict, description: 'Delivered and read positions' },
  ),
  InboxPage: Type.Object(
    { entries: Type.Array(Type.Ref('InboxEntry')), next_since: SyncCursor, has_more: Type.Boolean() },
    { ...strict, description: 'A page of inbox entries' },
  ),
  NoticeSent: Type.Object(
    { notice_id: Type.String(), recipients: Int },
    { ...strict, description: 'The notice and how many users got a copy' },
  ),
  NoticePage: Type.Object(
    { notices: Type.Array(Type.Ref('Notice')), next_since: SyncCursor, has_more: Type.Boolean() },
    { ...strict, description: 'A page of notices' },
  ),
  Notice: Type.Object({ notice: Type.Ref('Notice') }, { ...strict, description: 'Your copy of the notice' }),
  Webhook: Type.Object(
    { webhook: Type.Ref('WebhookEndpoint') },
    { ...strict, description: 'The webhook endpoint' },
  ),
  WebhookWithSecret: Type.Object(
    {
      webhook: Type.Ref('WebhookEndpoint'),
      secret: Type.String({ description: 'whsec_…; shown only by create and rotate.' }),
    },
    { ...strict, description: 'The endpoint and its signing secret' },
  ),
  Webhooks: Type.Object(
    { webhooks: Type.Array(Type.Ref('WebhookEndpoint')) },
    { ...strict, description: 'The tenant’s webhook endpoints, oldest first' },
  ),
  Deleted: Type.Null({ description: 'Deleted (no body)' }),
  DeliveryPage: Type.Object(
    {
      deliveries: Type.Array(Type.Ref('WebhookDelivery')),
      next_before: Nullable(Type.String({ description: 'Pass as `before` for the next page; null: none.' })),
    },
    { ...strict, description: 'A page of the delivery log, newest first' },
  ),
  Delivery: Type.Object(
    { delivery: Type.Ref('WebhookDelivery') },
    { ...strict, description: 'The delivery, pending again and due now' },
  ),
  Device: Type.Object({ device: Type.Ref('Device') }, { ...strict, description: 'The device' }),
  Devices: Type.Object(
    { devices: Type.Array(Type.Ref('Device')) },
    { ...strict, description: 'Your live devices, newest registration first' },
  ),
  PushDeliveryPage: Type.Object(
    {
      deliveries: Type.Array(Type.Ref('PushDelivery')),
      next_before: Nullable(Type.String({ description: 'Pass as `before` for the next page; null: none.' })),
    },
    { ...strict, description: 'A page of the device’s push log, newest first' },
  ),
  PushDelivery: Type.Object(
    { delivery: Type.Ref('PushDelivery') },
    { ...strict, description: 'The test push and what the provider answered' },
  ),
  VapidKey: Type.Object(
    {
      public_key: Type.String({
        description: 'base64url P-256 point: PushManager.subscribe({applicationServerKey}).',
      }),
    },
    { ...strict, description: 'The Web Push (VAPID) public key' },
  ),
  Replayed: Type.Object(
    {
      replayed: Type.Integer({ minimum: 0, description: 'Deliveries copied (at most 10,000 per call).' }),
      has_more: Type.Boolean({ description: 'True: call again from the last copied original.' }),
    },
    { ...strict, description: 'How many deliveries were queued again' },
  ),
};
