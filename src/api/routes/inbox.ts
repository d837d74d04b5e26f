// The conversation list / inbox sync (one statement, no N+1) and the
// caller's own flags on an entry.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { listInbox, readableConversation, updateInboxEntry } from '../../domain/queries.ts';
import type { RouteDeps } from '../context.ts';
import { principalOf, traceOf } from '../context.ts';
import { errorReplies, InboxParams, InboxPatchBody, Replies, SyncQuery } from '../schemas.ts';

export const inboxRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db, config } = host;
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
      const p = principalOf(req);
      const page = await listInbox(
        db,
        p.tenant_id,
        p.user_id,
        req.query.since,
        req.query.limit ?? 50,
        config.limits.largeChannelThreshold,
      );
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
      const p = principalOf(req);
      const id = req.params.conversation_id;
      const entry = await db.transaction(async (tx) => {
        await readableConversation(tx, p.tenant_id, p.user_id, id);
        return updateInboxEntry(
          tx,
          p.tenant_id,
          p.user_id,
          id,
          req.body,
          config.limits.largeChannelThreshold,
          traceOf(req),
        );
      });
      return { entry };
    },
  );
};
