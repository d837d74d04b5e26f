// System notices: a tenant backend sends; each user lists and flags their own copies.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { execute } from '../../domain/commands.ts';
import { updateNoticeEntry } from '../../domain/recipient-state.ts';
import type { RouteDeps } from '../context.ts';
import { apiTenantOf, keyActor, principalOf, traceOf } from '../context.ts';
import { errorReplies, NoticeBody, NoticeParams, NoticePatchBody, Replies, SyncQuery } from '../schemas.ts';

export const noticeRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db, deps } = host;
  const { recipients } = deps.reads(db);
  const projection = deps.projection(db);
  const doc = (operationId: string, summary: string) => ({ tags: ['notices'], summary, operationId });

  app.post(
    '/v1/notices',
    {
      config: { auth: 'apiKey' },
      schema: {
        ...doc('sendNotice', 'Send a notice (tenant backend, API key)'),
        body: NoticeBody,
        response: { 201: Replies.NoticeSent, ...errorReplies(404) },
      },
    },
    async (req, reply) => {
      const { to, title, body, data } = req.body;
      const sent = await execute(
        deps,
        apiTenantOf(req),
        { kind: 'SystemNotice', to, title, body, data, actor: keyActor(req) },
        traceOf(req),
      );
      return reply.status(201).send(sent);
    },
  );

  app.get(
    '/v1/notices',
    {
      config: { auth: 'user' },
      schema: {
        ...doc('listNotices', 'Your notices (newest first) or changes since a cursor'),
        querystring: SyncQuery,
        response: { 200: Replies.NoticePage },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const page = await recipients.notices(p.tenant_id, p.user_id, req.query.since, req.query.limit ?? 50);
      return { notices: page.items, next_since: page.next_since, has_more: page.has_more };
    },
  );

  app.patch(
    '/v1/notices/:id',
    {
      config: { auth: 'user' },
      schema: {
        ...doc('updateNotice', 'Flag your copy: read, archived, dismissed, escalated'),
        params: NoticeParams,
        body: NoticePatchBody,
        response: { 200: Replies.Notice, ...errorReplies(404) },
      },
    },
    async (req) => {
      const p = principalOf(req);
      return {
        notice: await updateNoticeEntry(
          projection,
          p.tenant_id,
          p.user_id,
          req.params.id,
          req.body,
          traceOf(req),
        ),
      };
    },
  );
};
