// Tenancy and tokens: operator creates tenants; a tenant backend exchanges
// its API key for a user's token pair; clients refresh (rotating, reuse
// revokes the family) and switch the active tenant explicitly — only to a
// tenant the session was granted (the operator's grants, or the host JWT's).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { RouteDeps } from '../app.ts';
import { apiTenantOf, principalOf } from '../context.ts';
import { bearerAuth, CreateTenantBody, RefreshBody, SwitchBody, TokenBody, UserId } from '../schemas.ts';

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
        security: bearerAuth,
        body: CreateTenantBody,
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
        security: bearerAuth,
        body: TokenBody,
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
        body: RefreshBody,
      },
    },
    async (req) => host.auth.refresh(req.body.refresh_token),
  );

  app.post(
    '/v1/tokens/switch',
    {
      config: { auth: 'user' },
      schema: { tags: ['auth'], summary: 'Switch the active tenant', security: bearerAuth, body: SwitchBody },
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
        security: bearerAuth,
        body: GrantBody,
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
        security: bearerAuth,
        body: GrantBody,
      },
    },
    async (req) => host.auth.revokeGrant(req.body.tenant_id, req.body.user_id, req.body.granted_tenant),
  );
};
