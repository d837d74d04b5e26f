// Conversations and membership.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { readableConversation } from '../../domain/access.ts';
import { addMembers, createConversation, getDirect, join, removeMember } from '../../domain/conversations.ts';
import type { RouteDeps } from '../context.ts';
import { principalOf, traceOf } from '../context.ts';
import {
  AddMembersBody,
  ConversationParams,
  CreateConversationBody,
  errorReplies,
  MemberParams,
  MembersQuery,
  Replies,
  UserParams,
} from '../schemas.ts';

export const conversationRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db, deps } = host;
  const { conversations } = deps.reads(db);
  const user = { config: { auth: 'user' as const } };
  // Every route here reads a conversation of the caller's tenant: 403 NOT_A_MEMBER, 404 …_NOT_FOUND.
  const doc = (operationId: string, summary: string) => ({ tags: ['conversations'], summary, operationId });
  const fails = errorReplies(403, 404);

  app.post(
    '/v1/conversations',
    {
      ...user,
      schema: {
        ...doc('createConversation', 'Create a group, channel or announcement'),
        body: CreateConversationBody,
        response: { 201: Replies.Conversation, ...fails },
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const { id } = await createConversation(
        deps,
        p.tenant_id,
        { type: 'user', user_id: p.user_id },
        {
          kind: req.body.kind,
          title: req.body.title,
          members: req.body.members ?? [],
          audience: req.body.audience,
        },
        traceOf(req),
      );
      const { conversation } = await readableConversation(conversations, p.tenant_id, p.user_id, id);
      return reply.status(201).send({ conversation });
    },
  );

  app.put(
    '/v1/direct/:user_id',
    {
      ...user,
      schema: {
        ...doc('getDirectConversation', "The pair's direct conversation, created on first call"),
        params: UserParams,
        response: { 200: Replies.Conversation, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const { id } = await getDirect(deps, p.tenant_id, p.user_id, req.params.user_id);
      const { conversation } = await readableConversation(conversations, p.tenant_id, p.user_id, id);
      return { conversation };
    },
  );

  app.post(
    '/v1/conversations/:id/members',
    {
      ...user,
      schema: {
        ...doc('addMembers', 'Add members'),
        params: ConversationParams,
        body: AddMembersBody,
        response: { 200: Replies.Added, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const actor = { type: 'user', user_id: p.user_id } as const;
      const { added } = await addMembers(
        deps,
        p.tenant_id,
        actor,
        req.params.id,
        req.body.user_ids,
        traceOf(req),
      );
      return { conversation_id: req.params.id, added };
    },
  );

  app.delete(
    '/v1/conversations/:id/members/:user_id',
    {
      ...user,
      schema: {
        ...doc('removeMember', 'Remove a member (yourself, or anyone as moderator/admin)'),
        params: MemberParams,
        response: { 200: Replies.Removed, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const actor = { type: 'user', user_id: p.user_id } as const;
      await removeMember(deps, p.tenant_id, actor, req.params.id, req.params.user_id, traceOf(req));
      return { conversation_id: req.params.id, removed: req.params.user_id };
    },
  );

  app.post(
    '/v1/conversations/:id/join',
    {
      ...user,
      schema: {
        ...doc('joinChannel', 'Join a channel'),
        params: ConversationParams,
        response: { 200: Replies.Joined, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const { joined } = await join(deps, p.tenant_id, p.user_id, req.params.id, traceOf(req));
      const { conversation } = await readableConversation(
        conversations,
        p.tenant_id,
        p.user_id,
        req.params.id,
      );
      return { conversation, joined };
    },
  );

  app.get(
    '/v1/conversations/:id',
    {
      ...user,
      schema: {
        ...doc('getConversation', 'One conversation'),
        params: ConversationParams,
        response: { 200: Replies.Conversation, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      const { conversation } = await readableConversation(
        conversations,
        p.tenant_id,
        p.user_id,
        req.params.id,
      );
      return { conversation };
    },
  );

  app.get(
    '/v1/conversations/:id/members',
    {
      ...user,
      schema: {
        ...doc('listMembers', 'Members, by user id (keyset)'),
        params: ConversationParams,
        querystring: MembersQuery,
        response: { 200: Replies.MemberPage, ...fails },
      },
    },
    async (req) => {
      const p = principalOf(req);
      await readableConversation(conversations, p.tenant_id, p.user_id, req.params.id);
      return conversations.members(p.tenant_id, req.params.id, req.query.after, req.query.limit ?? 200);
    },
  );
};
