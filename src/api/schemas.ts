// Request schemas (TypeBox → JSON Schema): validated on every request,
// rendered into /openapi.json. Objects reject unknown fields; bodies are
// never type-coerced (a number is not a string); query strings are.
// Beside the schemas, one text rule holds for every string of every request
// (inputProblemOf, run by the app before validation): see src/protocol/input.ts.
import type { FastifyRequest } from 'fastify';
import { type TSchema, Type } from 'typebox';
import { findInputProblem, type InputProblem, MAX_SEQ } from '../protocol/index.ts';
import { IdSchema, MessageInputSchema, SeqSchema, strict, UserIdSchema } from '../protocol/schema.ts';

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

// The response schemas (Replies, the shared components; errorReplies in error-replies.ts)
// live beside these.
export * from './error-replies.ts';
export * from './responses.ts';
export type { TSchema };
