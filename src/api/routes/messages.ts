// Messages: send (routed by the conversation's kind to its command), edit,
// delete, history (keyset by seq), the event log (gap repair), read
// markers and receipts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { commandFor, conversationKindOf, execute } from '../../domain/commands.ts';
import type { MessageInput } from '../../domain/compose.ts';
import { deleteMessage, editMessage } from '../../domain/edits.ts';
import { withSummaries } from '../../domain/kind-actions.ts';
import { listEvents, listMessages, readableConversation } from '../../domain/queries.ts';
import { markRead } from '../../domain/read-marker.ts';
import { receiptsOf } from '../../domain/receipts.ts';
import { HeraldError } from '../../protocol/index.ts';
import { noTracing } from '../../tracing/tracer.ts';
import type { RouteDeps } from '../app.ts';
import { traceOf } from '../app.ts';
import { principalOf } from '../context.ts';
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
  const { db, deps } = host;
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
      const p = principalOf(req);
      const key = req.headers['idempotency-key'];
      if (key !== undefined && req.body.client_id !== undefined && key !== req.body.client_id) {
        throw new HeraldError('VALIDATION_FAILED', 'Idempotency-Key and client_id differ.');
      }
      // Checked before anything is read or written: over the limit changes nothing. The
      // limiter is shared with the gateway's `send` frames.
      await limiters.send.take(p.tenant_id, p.user_id);
      const kind = await conversationKindOf(db, p.tenant_id, req.params.id);
      const input: MessageInput = { ...req.body, client_id: key ?? req.body.client_id };
      const command = commandFor(kind, p.user_id, req.params.id, input);
      const result = await inSpan(req, tracing, 'herald.commit', (trace) =>
        execute(deps, p.tenant_id, command, trace),
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
      const p = principalOf(req);
      const { id, message_id } = req.params;
      return {
        message: await editMessage(deps, p.tenant_id, p.user_id, id, message_id, req.body.body, traceOf(req)),
      };
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
      const p = principalOf(req);
      const { id, message_id } = req.params;
      return { message: await deleteMessage(deps, p.tenant_id, p.user_id, id, message_id, traceOf(req)) };
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
      const p = principalOf(req);
      await readableConversation(db, p.tenant_id, p.user_id, req.params.id);
      const { after_seq, before_seq, limit } = req.query;
      const page = await listMessages(db, p.tenant_id, req.params.id, {
        after_seq,
        before_seq,
        limit: limit ?? 50,
      });
      // Reactions, a poll's tallies: each kind's summary, as this user sees it.
      return { ...page, messages: await withSummaries(db, p.tenant_id, p.user_id, page.messages) };
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
      const p = principalOf(req);
      const { conversation } = await readableConversation(db, p.tenant_id, p.user_id, req.params.id);
      const page = await listEvents(
        db,
        p.tenant_id,
        conversation.id,
        req.query.after_seq ?? 0,
        req.query.limit ?? 100,
      );
      gapFetched(page.events.length);
      return {
        conversation: conversation.id,
        events: page.events,
        head_seq: conversation.last_seq,
        has_more: page.has_more,
      };
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
      const p = principalOf(req);
      const { entry } = await markRead(
        deps,
        p.tenant_id,
        p.user_id,
        req.params.id,
        req.body.seq,
        traceOf(req),
      );
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
      const p = principalOf(req);
      const readable = await readableConversation(db, p.tenant_id, p.user_id, req.params.id);
      return receiptsOf(db, p.tenant_id, readable, deps.limits.receiptDetailMax, req.query.seq);
    },
  );
};
