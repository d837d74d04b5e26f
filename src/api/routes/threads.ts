// Threads: a thread's history, the caller's thread entries and a thread's read marker. A
// reply is sent like any message, with `thread_root` (routes/messages.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { strict } from '../../protocol/schema.ts';
import { threads } from '../../usecases/threads.ts';
import { callerOf, type RouteDeps } from '../context.ts';
import { ConversationParams, errorReplies, HistoryQuery, Id, ReadBody } from '../schemas.ts';

const ThreadParams = Type.Object({ id: Id, root_id: Id }, strict);
const Int = Type.Integer({ minimum: 0 });
const ThreadEntry = Type.Object(
  {
    conversation_id: Type.String(),
    root_id: Type.String(),
    reply_count: Int,
    last_reply_at: Type.Union([Type.String(), Type.Null()]),
    last_read_seq: Int,
    unread_count: Int,
    version: Int,
  },
  { ...strict, description: "A participant's state of one thread" },
);
const ThreadPage = Type.Object(
  { root: Type.Ref('Message'), messages: Type.Array(Type.Ref('Message')), has_more: Type.Boolean() },
  { ...strict, description: "The thread's root, and a page of its replies ascending by seq" },
);
const EntriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    root_id: Type.Optional(Id),
  },
  strict,
);

export const threadRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const t = threads(host.deps);
  const user = { config: { auth: 'user' as const } };
  const doc = (operationId: string, summary: string) => ({ tags: ['messages'], summary, operationId });
  const fails = errorReplies(403, 404);

  app.get(
    '/v1/conversations/:id/threads/:root_id/messages',
    {
      ...user,
      schema: {
        ...doc('listThread', "A thread's replies, keyset by seq; newest page by default; always ascending"),
        params: ThreadParams,
        querystring: HistoryQuery,
        response: { 200: ThreadPage, ...fails },
      },
    },
    async (req) => {
      const { after_seq, before_seq, limit } = req.query;
      return t.history(callerOf(req), req.params.id, req.params.root_id, {
        after_seq,
        before_seq,
        limit: limit ?? 50,
      });
    },
  );

  app.get(
    '/v1/conversations/:id/threads',
    {
      ...user,
      schema: {
        ...doc(
          'listThreadEntries',
          'Your threads of the conversation (unread), latest reply first; root_id: that one only',
        ),
        params: ConversationParams,
        querystring: EntriesQuery,
        response: { 200: Type.Object({ threads: Type.Array(ThreadEntry) }, strict), ...fails },
      },
    },
    async (req) => {
      return {
        threads: await t.entries(callerOf(req), req.params.id, req.query.limit ?? 50, req.query.root_id),
      };
    },
  );

  app.post(
    '/v1/conversations/:id/threads/:root_id/read',
    {
      ...user,
      schema: {
        ...doc('markThreadRead', 'Mark a thread read up to seq (the conversation marker stays)'),
        params: ThreadParams,
        body: ReadBody,
        response: { 200: Type.Object({ thread: ThreadEntry }, strict), ...errorReplies(400, 403, 404) },
      },
    },
    async (req) => {
      const { id, root_id } = req.params;
      return { thread: await t.read(callerOf(req), id, root_id, req.body.seq) };
    },
  );
};
