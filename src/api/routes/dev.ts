// Dev-only: a token for any user of the demo tenant, no API key needed.
// Registered only when config.devTokens (embedded, non-production default).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEMO_TENANT } from '../../demo/seed.ts';
import { HeraldError } from '../../protocol/index.ts';
import type { RouteDeps } from '../context.ts';
import { DevTokenBody, errorReplies, Replies } from '../schemas.ts';

export const devRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  app.post(
    '/v1/dev/tokens',
    {
      schema: {
        tags: ['dev'],
        summary: 'Dev only: a token pair for a demo-tenant user',
        operationId: 'issueDevTokens',
        body: DevTokenBody,
        response: { 200: Replies.TokenPair, ...errorReplies(404) },
      },
    },
    async (req) => {
      const { rows } = await host.db.query('SELECT 1 FROM tenants WHERE id = $1', [DEMO_TENANT]);
      if (!rows[0])
        throw new HeraldError('TENANT_NOT_FOUND', 'The demo tenant does not exist (HERALD_DEMO is off).');
      return host.auth.issue(DEMO_TENANT, req.body.user_id, req.body.display_name);
    },
  );
};
