// The conversation list / inbox sync (one statement, no N+1) and the
// caller's own flags on an entry.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { messaging } from '../../usecases/messaging.ts';
import { callerOf, type RouteDeps } from '../context.ts';
import { errorReplies, InboxParams, InboxPatchBody, Replies, SyncQuery } from '../schemas.ts';

export const inboxRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host, limiters }) => {
  const m = messaging(host.deps, limiters.send);
  const user = { config: { auth: 'user' as const } };
  const doc = (operationId: string, summary: string) => ({ tags: ['inbox'], summary, operationId });

  app.get(
    '/v1/inbox',
    {
      ...user,
      schema: {
        ...doc('listInbox', 'Conversation list (no since) or changes since a cursor'),
        querystring: SyncQuery,
        response: { 200: Replies.InboxPage },
      },
    },
    async (req) => {
      const page = await m.inbox(callerOf(req), req.query.since, req.query.limit ?? 50);
      return { entries: page.items, next_since: page.next_since, has_more: page.has_more };
    },
  );

  app.patch(
    '/v1/inbox/:conversation_id',
    {
      ...user,
      schema: {
        ...doc('updateInboxEntry', 'Archive, mute or pin'),
        params: InboxParams,
        body: InboxPatchBody,
        response: { 200: Replies.Entry, ...errorReplies(403, 404) },
      },
    },
    async (req) => {
      return { entry: await m.setInboxFlags(callerOf(req), req.params.conversation_id, req.body) };
    },
  );
};
