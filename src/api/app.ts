// The HTTP API: a Fastify app built from the Herald host. One error
// handler, one auth hook, TypeBox schemas (validation + /openapi.json),
// metrics, and one plugin per concern under routes/. Extra plugins (the
// gateway's SSE route, …) are registered by the host before listen.

import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import { HeraldError } from '../protocol/index.ts';
import { validationMessage } from '../protocol/issues.ts';
import { type ApiHost, type App, installAuth, type Limiters, type RouteDeps } from './context.ts';
import { clientErrorHandler, frameworkErrorHandler, installErrorHandlers } from './errors.ts';
import { httpMetrics } from './metrics.ts';
import { OPENAPI_TAGS, openapiTransform, SECURITY_SCHEMES } from './openapi.ts';
import { ApiKeyLimiter, SendLimiter } from './rate-limit.ts';
import { refuseApiRoutes } from './roles.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { conversationRoutes } from './routes/conversations.ts';
import { deliveryRoutes } from './routes/delivery.ts';
import { devRoutes } from './routes/dev.ts';
import { deviceRoutes } from './routes/devices.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { kindActionRoutes } from './routes/kind-actions.ts';
import { messageRoutes } from './routes/messages.ts';
import { noticeRoutes } from './routes/notices.ts';
import { systemRoutes } from './routes/system.ts';
import { threadRoutes } from './routes/threads.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { inputProblemOf, sharedSchemas } from './schemas.ts';
import { installTracing, requestTraceId } from './tracing.ts';
import { validatorCompiler } from './validation.ts';

/** A plugin the host adds to the app (e.g. the gateway's SSE route). Registered after Herald's routes. */
export type ApiPlugin = (app: App, host: ApiHost) => Promise<void>;

export interface ApiOptions {
  /** Registered in order, inside the app, before it starts listening. */
  plugins?: ApiPlugin[];
  /**
   * The per-user send limit. The host passes the instance it also gives the gateway, so
   * HTTP and WebSocket sends share one budget; default: one of config.http.sendRate.
   */
  sendLimiter?: SendLimiter;
  /** Calls per API key; the host passes a cluster-wide one with Redis (default: in process). */
  apiKeyLimiter?: ApiKeyLimiter;
}

/**
 * Longest decoded path parameter the router accepts. Well above every schema's maxLength,
 * so an over-long id is the schema's VALIDATION_FAILED; beyond this, 414 URI_TOO_LONG.
 */
const MAX_PARAM_LENGTH = 1024;

/** Query strings can carry tokens (WS/SSE): never log them. */
function safeUrl(url: string): string {
  return url.replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]');
}

export async function buildApi(host: ApiHost, opts: ApiOptions = {}): Promise<App> {
  const app = Fastify({
    loggerInstance: host.log as FastifyBaseLogger,
    bodyLimit: host.config.http.bodyLimitBytes,
    // The trace id travels from the request through the outbox row to the frame (DESIGN §11).
    genReqId: requestTraceId,
    // Request lines are logged once, on response, with the token-free URL (below).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'trace_id' }),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // What the router and Node's HTTP parser reject answers in the catalog's shape too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // While closing, requests are refused below in the catalog's shape, not Fastify's.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  installErrorHandlers(app);
  app.addHook('onRequest', async (req, reply) => {
    if (host.lifecycle?.phase !== 'closing') return;
    reply.header('connection', 'close').header('x-trace-id', req.id);
    throw new HeraldError('NOT_READY', host.lifecycle.notServing() ?? undefined, { retryAfter: 1 });
  });
  // A node without the api role (HERALD_ROLES) keeps only probes, metrics and the gateway.
  if (!host.config.roles.api) refuseApiRoutes(app, host.config.roles);

  // An empty body with a JSON content type (e.g. POST …/join) means "no body", not an error.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined);
    return json(req, body as string, done);
  });

  // The input rule of src/protocol/input.ts (no U+0000, no unpaired surrogates, bounded
  // nesting) on every route's params, query and body — schema or not, free-form `data`
  // included — before validation and before the handler touches the store.
  app.addHook('preValidation', async (req) => {
    const problem = inputProblemOf(req);
    if (problem) {
      throw new HeraldError('VALIDATION_FAILED', validationMessage([problem]), {
        details: [problem],
      });
    }
  });

  const limiters: Limiters = {
    send: opts.sendLimiter ?? SendLimiter.inProcess(host.config.http.sendRate),
    apiKey: opts.apiKeyLimiter ?? ApiKeyLimiter.inProcess(host.config.http.apiKeyRate),
  };
  installAuth(app, host, limiters);

  const metrics = httpMetrics(host.metrics);
  installTracing(app, host.tracing);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-trace-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    req.log.debug(
      {
        method: req.method,
        url: safeUrl(req.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  // Responses are declared per route (schema.response) for /openapi.json and checked against
  // real answers by test/api/openapi.test.ts, but serialized as before, with JSON.stringify:
  // fast-json-stringify would drop any field a schema does not list and coerce types, so
  // a drift between model and schema would silently change the output instead of failing.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of sharedSchemas) app.addSchema(schema);

  await app.register(swagger, {
    openapi: {
      // 3.1: JSON Schema 2020-12, so `T | null` is a plain `type: 'null'` member for generators.
      openapi: '3.1.0',
      info: {
        title: 'Herald',
        version: '0.1.0',
        description:
          'Real-time messaging: HTTP API. Errors are {"error": {"code", "message", "details?"}} ' +
          '(the `Error` schema; codes in docs/protocol.md#errors). No string (nor object key) may ' +
          'contain U+0000 or an unpaired surrogate, bodies nest at most 32 levels, seqs are ' +
          'integers up to 2^53 - 1: else 400 VALIDATION_FAILED. The WebSocket and SSE downlinks ' +
          'are described in docs/protocol.md.',
      },
      // Relative: the node that serves this document (each deployment has its own address).
      servers: [{ url: '/', description: 'The Herald node serving this document' }],
      tags: OPENAPI_TAGS,
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    // Shared schemas become components named by their $id (not def-0, def-1, …).
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: openapiTransform,
  });

  const deps: RouteDeps = { host, limiters };
  await app.register(systemRoutes, deps);
  await app.register(authRoutes, deps);
  await app.register(conversationRoutes, deps);
  await app.register(messageRoutes, deps);
  await app.register(threadRoutes, deps);
  await app.register(kindActionRoutes, deps);
  await app.register(inboxRoutes, deps);
  await app.register(noticeRoutes, deps);
  await app.register(webhookRoutes, deps);
  await app.register(deviceRoutes, deps);
  await app.register(deliveryRoutes, deps);
  await app.register(auditRoutes, deps);
  if (host.config.devTokens) await app.register(devRoutes, deps);
  for (const plugin of opts.plugins ?? []) await app.register(async (scope) => plugin(scope, host));
  return app;
}
