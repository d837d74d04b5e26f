// Messages: send (routed by the conversation's kind to its command), edit,
// delete, history (keyset by seq), the event log (gap repair), read
// markers and receipts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MessageInput } from '../../domain/compose.ts';
import { HeraldError } from '../../protocol/index.ts';
import { noTracing } from '../../tracing/tracer.ts';
import { messaging } from '../../usecases/messaging.ts';
import { callerOf, type RouteDeps } from '../context.ts';
import { gapFetchMetrics } from '../metrics.ts';
import {
  ConversationParams,
  EditBody,
  EventsQuery,
  errorReplies,
  HistoryQuery,
  MessageParams,
  ReadBody,
  ReceiptsQuery,
  Replies,
  SendBody,
  SendHeaders,
} from '../schemas.ts';
import { inSpan } from '../tracing.ts';

export const messageRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host, limiters }) => {
  const m = messaging(host.deps, limiters.send);
  const tracing = host.tracing ?? noTracing;
  const user = { config: { auth: 'user' as const } };
  // Every route here reads a conversation of the caller's tenant: 403 NOT_A_MEMBER, 404 …_NOT_FOUND.
  const doc = (operationId: string, summary: string) => ({ tags: ['messages'], summary, operationId });
  const fails = errorReplies(403, 404);
  const gapFetched = gapFetchMetrics(host.metrics);

  app.post(
    '/v1/conversations/:id/messages',
    {
      ...user,
      schema: {
        ...doc(
          'sendMessage',
          'Send a message (Idempotency-Key: a matching repeat returns the original with 200, a different request 422)',
        ),
        params: ConversationParams,
        headers: SendHeaders,
        body: SendBody,
        response: {
          201: { ...Replies.Message, description: 'The message, written now' },
          200: { ...Replies.Message, description: 'A repeat of an earlier send: the original message' },
          ...errorReplies(403, 404, 422, 429),
        },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      if (key !== undefined && req.body.client_id !== undefined && key !== req.body.client_id) {
        throw new HeraldError('VALIDATION_FAILED', 'Idempotency-Key and client_id differ.');
      }
      const input: MessageInput = { ...req.body, client_id: key ?? req.body.client_id };
      const caller = callerOf(req);
      const result = await inSpan(req, tracing, 'herald.commit', (trace) =>
        m.send({ ...caller, trace }, req.params.id, input),
      );
      return reply.status(result.replayed ? 200 : 201).send({ message: result.message });
    },
  );

  app.patch(
    '/v1/conversations/:id/messages/:message_id',
    {
      ...user,
      schema: {
        ...doc('editMessage', 'Edit your message'),
        params: MessageParams,
        body: EditBody,
        response: { 200: Replies.Message, ...errorReplies(403, 404, 409) },
      },
    },
    async (req) => {
      const { id, message_id } = req.params;
      return { message: await m.edit(callerOf(req), id, message_id, req.body.body) };
    },
  );

  app.delete(
    '/v1/conversations/:id/messages/:message_id',
    {
      ...user,
      schema: {
        ...doc('deleteMessage', 'Delete a message (author, or moderator/admin)'),
        params: MessageParams,
        response: { 200: Replies.Message, ...errorReplies(403, 404, 409) },
      },
    },
    async (req) => {
      const { id, message_id } = req.params;
      return { message: await m.remove(callerOf(req), id, message_id) };
    },
  );

  app.get(
    '/v1/conversations/:id/messages',
    {
      ...user,
      schema: {
        ...doc('listMessages', 'History, keyset by seq; newest page by default; always ascending'),
        params: ConversationParams,
        querystring: HistoryQuery,
        response: { 200: Replies.MessagePage, ...fails },
      },
    },
    async (req) => {
      const { after_seq, before_seq, limit } = req.query;
      return m.history(callerOf(req), req.params.id, { after_seq, before_seq, limit: limit ?? 50 });
    },
  );

  app.get(
    '/v1/conversations/:id/events',
    {
      ...user,
      schema: {
        ...doc('listEvents', 'The event log after a seq (gap repair)'),
        params: ConversationParams,
        querystring: EventsQuery,
        response: { 200: Replies.EventPage, ...fails },
      },
    },
    async (req) => {
      const page = await m.events(
        callerOf(req),
        req.params.id,
        req.query.after_seq ?? 0,
        req.query.limit ?? 100,
      );
      gapFetched(page.events.length);
      return page;
    },
  );

  app.post(
    '/v1/conversations/:id/read',
    {
      ...user,
      schema: {
        ...doc('markRead', 'Mark read up to seq'),
        params: ConversationParams,
        body: ReadBody,
        response: { 200: Replies.Entry, ...fails },
      },
    },
    async (req) => {
      const { entry } = await m.read(callerOf(req), req.params.id, req.body.seq);
      return { entry };
    },
  );

  app.get(
    '/v1/conversations/:id/receipts',
    {
      ...user,
      schema: {
        ...doc(
          'listReceipts',
          'Delivered and read positions per recipient (small conversations) and counts at a seq',
        ),
        params: ConversationParams,
        querystring: ReceiptsQuery,
        response: { 200: Replies.Receipts, ...fails },
      },
    },
    async (req) => {
      return m.receipts(callerOf(req), req.params.id, req.query.seq);
    },
  );
};
