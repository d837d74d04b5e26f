// Tenancy and tokens: operator creates tenants; a tenant backend exchanges
// its API key for a user's token pair; clients refresh (rotating, reuse
// revokes the family) and switch the active tenant explicitly — only to a
// tenant the session was granted (the operator's grants, or the host JWT's).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { RouteDeps } from '../context.ts';
import { apiTenantOf, principalOf } from '../context.ts';
import {
  CreateTenantBody,
  errorReplies,
  RefreshBody,
  Replies,
  SwitchBody,
  TokenBody,
  UserId,
} from '../schemas.ts';

const TenantId = Type.String({ minLength: 1, maxLength: 63 });
const GrantBody = Type.Object(
  { tenant_id: TenantId, user_id: UserId, granted_tenant: TenantId },
  { additionalProperties: false },
);

export const authRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  app.post(
    '/v1/tenants',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['auth'],
        summary: 'Create a tenant (operator)',
        operationId: 'createTenant',
        body: CreateTenantBody,
        response: { 201: Replies.Tenant, ...errorReplies(409) },
      },
    },
    async (req, reply) => reply.status(201).send(await host.auth.createTenant(req.body ?? {})),
  );

  app.post(
    '/v1/tokens',
    {
      config: { auth: 'apiKey' },
      schema: {
        tags: ['auth'],
        summary: "Exchange the tenant's API key for a user's token pair",
        operationId: 'issueTokens',
        body: TokenBody,
        response: { 200: Replies.TokenPair },
      },
    },
    async (req) => host.auth.issue(apiTenantOf(req), req.body.user_id, req.body.display_name),
  );

  app.post(
    '/v1/tokens/refresh',
    {
      schema: {
        tags: ['auth'],
        summary: 'Rotate a refresh token (same user, same active tenant)',
        operationId: 'refreshTokens',
        body: RefreshBody,
        response: {
          200: Replies.TokenPair,
          ...errorReplies(401),
        },
      },
    },
    async (req) => host.auth.refresh(req.body.refresh_token),
  );

  app.post(
    '/v1/tokens/switch',
    {
      config: { auth: 'user' },
      schema: {
        tags: ['auth'],
        summary: 'Switch the active tenant',
        operationId: 'switchTenant',
        body: SwitchBody,
        response: { 200: Replies.TokenPair, ...errorReplies(403) },
      },
    },
    async (req) => host.auth.switchTenant(principalOf(req), req.body.tenant_id),
  );

  // Operator grants: the only way a Herald-issued session names more than its own tenant.
  app.post(
    '/v1/grants',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['auth'],
        summary: "Let a tenant's user also act in another tenant (operator)",
        operationId: 'grantTenant',
        body: GrantBody,
        response: { 200: Replies.Granted, ...errorReplies(404) },
      },
    },
    async (req) => host.auth.grantTenant(req.body.tenant_id, req.body.user_id, req.body.granted_tenant),
  );

  app.delete(
    '/v1/grants',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['auth'],
        summary: 'Withdraw a grant, ending the sessions that hold it (operator)',
        operationId: 'revokeGrant',
        body: GrantBody,
        response: { 200: Replies.Revoked },
      },
    },
    async (req) => host.auth.revokeGrant(req.body.tenant_id, req.body.user_id, req.body.granted_tenant),
  );
};
