// Schemas of the server frames whose JSON the store builds — the outbox payloads written by
// SQL (migrations, src/store/pg, the domain's SQL fragments) or by TypeScript beside it — and
// of the one entry shape that had none, ThreadEntry (frames.ts and model.ts are their types).
// test/protocol/wire-shapes.test.ts checks every builder's output against them. The shapes a
// frame carries are named by reference (`ConversationEvent`, `InboxEntry`, `Notice`: the API's
// components in src/api/responses.ts; `ThreadEntry` here), so each field list stays written
// once. Not exported by index.ts: the SDK does not bundle it.
import { Type } from 'typebox';
import { strict } from './schema.ts';

const Int = Type.Integer({ minimum: 0 });
const Timestamp = Type.String({ description: 'ISO 8601 timestamp' });

/** model.ts ThreadEntry: a participant's own state of one thread. */
export const ThreadEntrySchema = Type.Object(
  {
    conversation_id: Type.String(),
    root_id: Type.String(),
    reply_count: Int,
    last_reply_at: Type.Union([Timestamp, Type.Null()]),
    last_read_seq: Int,
    unread_count: Int,
    version: Int,
  },
  { ...strict, $id: 'ThreadEntry', description: "A participant's state of one thread" },
);

/** The W3C trace id of the write; the relay adds it to live frames, the outbox row keeps it apart. */
const trace = Type.Optional(Type.String());

const frame = <T extends string, P extends Parameters<typeof Type.Object>[0]>(type: T, props: P) =>
  Type.Object({ type: Type.Literal(type), ...props, trace }, strict);

/**
 * The server frames the store writes to the outbox, by `type` (frames.ts ServerFrame). An
 * `event` frame carries the stored ConversationEvent; the gateway sends it lean (frames.ts
 * WireMessage: the same schema with `Message` read as its lean form).
 */
export const storeFrameSchemas = {
  event: frame('event', { conversation: Type.String(), seq: Int, event: Type.Ref('ConversationEvent') }),
  inbox: frame('inbox', { entry: Type.Ref('InboxEntry') }),
  thread: frame('thread', { entry: Type.Ref('ThreadEntry') }),
  notice: frame('notice', { notice: Type.Ref('Notice') }),
  receipt: frame('receipt', {
    conversation: Type.String(),
    user_id: Type.String(),
    seq: Int,
    delivered_seq: Type.Optional(Int),
  }),
};
