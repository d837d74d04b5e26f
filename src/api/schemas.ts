// Request schemas (TypeBox → JSON Schema): validated on every request,
// rendered into /openapi.json. Objects reject unknown fields; bodies are
// never type-coerced (a number is not a string); query strings are.
// Beside the schemas, one text rule holds for every string of every request
// (inputProblemOf, run by the app before validation): see src/protocol/input.ts.
import type { FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import {
  CONVERSATION_KINDS,
  findInputProblem,
  type InputProblem,
  MAX_SEQ,
  MEMBER_ROLES,
  MESSAGE_KINDS,
} from '../protocol/index.ts';
import { type WireKindShape, wireKinds } from '../protocol/kinds/index.ts';
import {
  AttachmentSchema as AttachmentInput,
  IdSchema,
  MessageInputSchema,
  SeqSchema,
  strict,
  UserIdSchema,
} from '../protocol/schema.ts';
import { PUSH_STATUSES } from '../push/deliveries.ts';
import { PUSH_PLATFORMS } from '../push/devices.ts';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.ts';

export const Id = IdSchema;
export const UserId = UserIdSchema;
const Seq = SeqSchema;
const Cursor = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
// Defaults are documented in the schema and applied by the route (the validator does not fill them in).
const Limit = (max: number, dflt: number) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: max, default: dflt }));

export const ConversationParams = Type.Object({ id: Id }, strict);
export const MemberParams = Type.Object({ id: Id, user_id: UserId }, strict);
export const MessageParams = Type.Object({ id: Id, message_id: Id }, strict);
export const UserParams = Type.Object({ user_id: UserId }, strict);
export const InboxParams = Type.Object({ conversation_id: Id }, strict);
export const NoticeParams = Type.Object({ id: Id }, strict);

export const CreateTenantBody = Type.Object(
  {
    tenant_id: Type.Optional(Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-z0-9][a-z0-9_-]+$' })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  strict,
);
export const TokenBody = Type.Object(
  { user_id: UserId, display_name: Type.Optional(Type.String({ maxLength: 200 })) },
  strict,
);
export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 512 }) },
  strict,
);
export const SwitchBody = Type.Object({ tenant_id: Type.String({ minLength: 1, maxLength: 63 }) }, strict);

export const CreateConversationBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('group'), Type.Literal('channel'), Type.Literal('announcement')]),
    title: Type.String({ minLength: 1, maxLength: 200 }),
    members: Type.Optional(Type.Array(UserId)),
    audience: Type.Optional(Type.Union([Type.Literal('members'), Type.Literal('tenant')])),
  },
  strict,
);
export const AddMembersBody = Type.Object({ user_ids: Type.Array(UserId, { minItems: 1 }) }, strict);
export const MembersQuery = Type.Object({ after: Type.Optional(UserId), limit: Limit(1000, 200) }, strict);

// The message input is the protocol's one definition (src/protocol/schema.ts); the counts
// capped by configuration (mentions, attachments, body bytes) are checked by the domain,
// which answers with the specific code (TOO_MANY_MENTIONS, …).
export const SendBody = MessageInputSchema;
const ClientId = MessageInputSchema.properties.client_id;
export const SendHeaders = Type.Object({
  'idempotency-key': Type.Optional(ClientId),
});
export const EditBody = Type.Object({ body: Type.String() }, strict);
export const HistoryQuery = Type.Object(
  { after_seq: Type.Optional(Seq), before_seq: Type.Optional(Seq), limit: Limit(200, 50) },
  strict,
);
export const EventsQuery = Type.Object({ after_seq: Type.Optional(Seq), limit: Limit(200, 100) }, strict);
export const ReadBody = Type.Object({ seq: Seq }, strict);
export const ReceiptsQuery = Type.Object(
  {
    seq: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_SEQ, description: 'Count at this seq (default: the head).' }),
    ),
  },
  strict,
);

export const SyncQuery = Type.Object({ since: Type.Optional(Cursor), limit: Limit(200, 50) }, strict);
export const InboxPatchBody = Type.Object(
  {
    archived: Type.Optional(Type.Boolean()),
    muted: Type.Optional(Type.Boolean()),
    pinned: Type.Optional(Type.Boolean()),
  },
  strict,
);
export const NoticeBody = Type.Object(
  {
    to: Type.Union([Type.Array(UserId, { minItems: 1 }), Type.Literal('tenant')]),
    title: Type.String({ maxLength: 500 }),
    body: Type.String(),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  strict,
);
export const NoticePatchBody = Type.Object(
  {
    read: Type.Optional(Type.Boolean()),
    archived: Type.Optional(Type.Boolean()),
    dismissed: Type.Optional(Type.Boolean()),
    escalated: Type.Optional(Type.Boolean()),
  },
  strict,
);
export const DevTokenBody = Type.Object(
  { user_id: UserId, display_name: Type.Optional(Type.String({ maxLength: 200 })) },
  strict,
);

/**
 * The shared text rule over a request's path parameters, query and body (strings and keys
 * at any depth, nesting at most MAX_INPUT_DEPTH); paths read `params/id`, `body/data/k`.
 */
export function inputProblemOf(req: FastifyRequest): InputProblem | null {
  return (
    findInputProblem(req.params, 'params') ??
    findInputProblem(req.query, 'querystring') ??
    findInputProblem(req.body, 'body')
  );
}

export type { TSchema };

// ---------------------------------------------------------------------------
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

export const ConversationEventSchema = Type.Union(
  [
    ...kindEventSchemas,
    Type.Object(
      {
        type: Type.Union([Type.Literal('message.created'), Type.Literal('message.edited')]),
        message: Type.Ref('Message'),
        thread: Type.Optional(
          Type.Object(
            { root_id: Type.String(), reply_count: Int, last_reply_at: Timestamp },
            { ...strict, description: "A thread reply's event: its root's count after it." },
          ),
        ),
      },
      strict,
    ),
    Type.Object(
      { type: Type.Literal('message.deleted'), message_id: Type.String(), deleted_at: Timestamp },
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
// The webhook wire shapes of src/webhooks/endpoints.ts (WebhookEndpoint) and deliveries.ts (Delivery).
const WebhookEventTypeSchema = enumOf(WEBHOOK_EVENT_TYPES);
export const WebhookEndpointSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    events: Type.Array(WebhookEventTypeSchema),
    conversation: Nullable(Type.String({ description: 'Only this conversation’s events; null: all.' })),
    enabled: Type.Boolean(),
    disabled_reason: Nullable(
      Type.Union([Type.Literal('manual'), Type.Literal('failing')], {
        description: 'manual: PATCH enabled false; failing: disabled after a dead letter.',
      }),
    ),
    disabled_at: Nullable(Timestamp),
    failing_since: Nullable(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { ...strict, $id: 'WebhookEndpoint', description: 'A webhook endpoint (never its secret).' },
);
export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Decimal; keyset of the delivery log (`before`, replay `since`).' }),
    webhook_id: Type.String({ description: 'The `webhook-id` header: the same on retries and replays.' }),
    type: WebhookEventTypeSchema,
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('dead')]),
    conversation: Nullable(Type.String()),
    seq: Nullable(Int),
    attempts: Int,
    last_attempt_at: Nullable(Timestamp),
    last_status_code: Nullable(
      Type.Integer({ description: 'Null when no response arrived (last_error says why).' }),
    ),
    last_error: Nullable(Type.String()),
    last_latency_ms: Nullable(Int),
    next_attempt_at: Nullable(Type.String({ description: 'ISO 8601 timestamp; set only while pending.' })),
    delivered_at: Nullable(Timestamp),
    replay_of: Nullable(Type.String({ description: 'A replayed copy: the id of the original.' })),
    created_at: Timestamp,
  },
  { ...strict, $id: 'WebhookDelivery', description: 'One event for one endpoint, in its delivery log.' },
);
// The push wire shapes of src/push/devices.ts (Device) and deliveries.ts (PushDelivery).
export const DeviceSchema = Type.Object(
  {
    id: Type.String(),
    platform: enumOf(PUSH_PLATFORMS),
    token: Type.String({ description: 'The FCM / APNs token, or the Web Push endpoint.' }),
    locale: Nullable(Type.String()),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_sent_at: Nullable(Timestamp),
    removed_at: Nullable(
      Type.String({ description: 'ISO 8601; set when a provider said the token is dead.' }),
    ),
    removed_reason: Nullable(Type.String()),
  },
  { ...strict, $id: 'Device', description: 'A push device of the calling user.' },
);
export const PushDeliverySchema = Type.Object(
  {
    id: Type.String({ description: 'Decimal; keyset of the log (`before`).' }),
    push_id: Type.String({ description: 'Stable across retries (APNs apns-id, `push_id` in payloads).' }),
    kind: Type.Union([Type.Literal('message'), Type.Literal('test')]),
    status: enumOf(PUSH_STATUSES),
    reason: Nullable(
      Type.String({
        description:
          'skipped: muted, online, read, device_removed; failed / invalid_token: the provider’s reason.',
      }),
    ),
    conversation: Nullable(Type.String()),
    first_seq: Nullable(Int),
    last_seq: Nullable(Int),
    attempts: Int,
    provider_status: Nullable(Type.Integer({ description: 'HTTP status of the last attempt.' })),
    provider_response: Nullable(Type.String()),
    latency_ms: Nullable(Int),
    next_attempt_at: Nullable(Type.String({ description: 'ISO 8601 timestamp; set only while pending.' })),
    created_at: Timestamp,
    finished_at: Nullable(Timestamp),
  },
  { ...strict, $id: 'PushDelivery', description: 'One push (or skip) for one device, in its delivery log.' },
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
export const ErrorSchema = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'A code of the catalog (docs/protocol.md#errors); branch on it.' }),
        message: Type.String({ description: 'For humans; may change.' }),
        details: Type.Optional(
          Type.Array(Type.Object({ path: Type.String(), message: Type.String() }, strict), {
            description: 'VALIDATION_FAILED: what is wrong, where (`body/text`, `querystring/limit`).',
          }),
        ),
      },
      strict,
    ),
  },
  { ...strict, $id: 'Error' },
);

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

/** What each error status means on the routes that declare it (one shared Error body). */
const ERROR_STATUS: Record<number, string> = {
  400: 'VALIDATION_FAILED, BAD_REQUEST, or the route’s own 400 codes',
  401: 'UNAUTHENTICATED or TOKEN_EXPIRED',
  403: 'Not allowed (FORBIDDEN, NOT_A_MEMBER, NOT_ADMIN, NOT_AUTHOR)',
  404: 'The named tenant, user, conversation, message or notice does not exist',
  409: 'Conflicts with the current state (CONFLICT, MESSAGE_DELETED)',
  413: 'PAYLOAD_TOO_LARGE or BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE: send application/json',
  422: 'IDEMPOTENCY_KEY_REUSED',
  429: 'RATE_LIMITED: wait Retry-After seconds; nothing was written',
  500: 'INTERNAL',
  503: 'STORE_UNAVAILABLE (retry after Retry-After, same idempotency key)',
};

/** `{ [status]: Error }` for the given error statuses. */
export function errorReplies(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((s) => [s, Type.Ref('Error', { description: ERROR_STATUS[s] ?? 'An error' })]),
  );
}
