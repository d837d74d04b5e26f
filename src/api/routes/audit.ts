// The tenant's administrators and its audit log (tenant backend; the audit log also for the
// operator with ?tenant_id=). docs/audit.md.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listAudit } from '../../audit/query.ts';
import { AUDIT_ACTIONS } from '../../audit/record.ts';
import { addAdmin, listAdmins, removeAdmin } from '../../auth/tenant-admins.ts';
import type { RouteDeps } from '../context.ts';
import { apiTenantOf, backendTenantOf, keyActor } from '../context.ts';
import { errorReplies, UserParams } from '../schemas.ts';

const strict = { additionalProperties: false } as const;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()]);
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

const Admin = Type.Object({ user_id: Type.String(), created_at: Type.String() }, strict);

const AuditQuery = Type.Object(
  {
    tenant_id: Type.Optional(Text(63)),
    action: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[a-z_]+(\\.[a-z_]*)?$',
        description: `An action, or a family ending in "." (\`webhook.\`). Actions: ${AUDIT_ACTIONS.join(', ')}.`,
      }),
    ),
    actor_type: Type.Optional(
      Type.Union(['api_key', 'user', 'operator', 'cli', 'system'].map((t) => Type.Literal(t))),
    ),
    actor_id: Type.Optional(Text(200)),
    target_id: Type.Optional(Text(200)),
    since: Type.Optional(Text(64)),
    until: Type.Optional(Text(64)),
    before: Type.Optional(Text(20)),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  strict,
);

const AuditEntry = Type.Object(
  {
    id: Type.String(),
    at: Type.String({ description: 'When (ISO 8601, UTC): the action’s transaction time.' }),
    actor: Type.Object(
      {
        type: Type.String({ description: 'api_key, user, operator, cli or system' }),
        id: Nullable(Type.String({ description: 'The API key id or the user id.' })),
      },
      strict,
    ),
    action: Type.String(),
    target: Nullable(Type.Object({ type: Type.String(), id: Type.String() }, strict)),
    recipients: Nullable(Type.Integer({ minimum: 0, description: 'Mass actions: users reached.' })),
    details: Nullable(Type.Object({}, { additionalProperties: true })),
    trace_id: Nullable(Type.String()),
  },
  strict,
);

export const auditRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const { db } = host;
  const doc = (operationId: string, summary: string) => ({ tags: ['audit'], summary, operationId });
  const key = { config: { auth: 'apiKey' as const } };

  app.get(
    '/v1/admins',
    {
      ...key,
      schema: {
        ...doc('listAdmins', 'The tenant’s admins (they get notices about the tenant itself)'),
        response: { 200: Type.Object({ admins: Type.Array(Admin) }, { ...strict, description: 'Admins' }) },
      },
    },
    async (req) => ({ admins: await listAdmins(db, apiTenantOf(req)) }),
  );

  app.put(
    '/v1/admins/:user_id',
    {
      ...key,
      schema: {
        ...doc('addAdmin', 'Make a user of the tenant an admin (idempotent)'),
        params: UserParams,
        response: {
          200: Type.Object({ admin: Admin }, { ...strict, description: 'The admin' }),
          ...errorReplies(404),
        },
      },
    },
    async (req) => ({ admin: await addAdmin(db, apiTenantOf(req), req.params.user_id, keyActor(req)) }),
  );

  app.delete(
    '/v1/admins/:user_id',
    {
      ...key,
      schema: {
        ...doc('removeAdmin', 'Stop a user being an admin'),
        params: UserParams,
        response: { 204: Type.Null({ description: 'Removed (no body)' }), ...errorReplies(404) },
      },
    },
    async (req, reply) => {
      await removeAdmin(db, apiTenantOf(req), req.params.user_id, keyActor(req));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/audit',
    {
      config: { auth: 'backend' },
      schema: {
        ...doc('listAudit', 'Administrative and mass actions, newest first (keyset: before)'),
        querystring: AuditQuery,
        response: {
          200: Type.Object(
            {
              entries: Type.Array(AuditEntry),
              next_before: Nullable(Type.String({ description: 'Pass as `before` for the next page.' })),
            },
            { ...strict, description: 'A page of the audit log' },
          ),
          ...errorReplies(403),
        },
      },
    },
    async (req) => {
      const { tenant_id: _t, limit, ...filter } = req.query;
      return listAudit(db, backendTenantOf(req), { ...filter, limit: limit ?? 50 });
    },
  );
};
