// Operator endpoints: liveness, readiness (the store answers), metrics, and
// the OpenAPI document generated from the route schemas.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../../protocol/index.ts';
import { STORE_RETRY_AFTER_SEC } from '../../store/unavailable.ts';
import type { RouteDeps } from '../context.ts';

export const systemRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { host }) => {
  const hide = { hide: true } as const;
  app.get('/healthz', { schema: { ...hide } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { ...hide } }, async (req) => {
    // A draining node still serves what it has, but takes nothing new: the balancer moves on.
    const leaving = host.lifecycle?.notServing();
    if (leaving) throw new HeraldError('NOT_READY', leaving, { retryAfter: 1 });
    try {
      await host.db.query('SELECT 1');
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
      throw new HeraldError('NOT_READY', 'The store is not reachable.', {
        retryAfter: STORE_RETRY_AFTER_SEC,
      });
    }
    if (host.infraHealthy && !host.infraHealthy()) {
      throw new HeraldError('NOT_READY', 'The bus (Redis) is not reachable.', { retryAfter: 1 });
    }
    return { status: 'ready', store: host.db.kind };
  });

  app.get('/metrics', { schema: { ...hide } }, async (_req, reply) => {
    reply.header('content-type', host.metrics.contentType);
    return host.metrics.metrics();
  });

  app.get('/openapi.json', { schema: { ...hide } }, async () => app.swagger());
};
