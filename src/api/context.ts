// What every route sees: the host's services, and who is calling. Routes
// declare how they authenticate in their config (`auth`); one onRequest hook
// enforces it before the body is even read.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuditActor } from '../audit/record.ts';
import { bearer } from '../auth/secrets.ts';
import type { Auth, Principal } from '../auth/service.ts';
import type { Config } from '../config.ts';
import type { DomainDeps } from '../domain/commands.ts';
import { HeraldError } from '../protocol/index.ts';
import type { Push } from '../push/index.ts';
import type { Db } from '../store/db.ts';
import type { Tracing } from '../tracing/tracer.ts';
import type { Caller } from '../usecases/messaging.ts';
import type { AddressPolicy } from '../webhooks/address-policy.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { ApiKeyLimiter, SendLimiter } from './rate-limit.ts';

/**
 * How a route authenticates:
 * - `user`: a user's access token (Herald's, or the host's when configured);
 * - `apiKey`: a tenant backend's API key (rate-limited per key);
 * - `admin`: the operator token (HERALD_ADMIN_TOKEN);
 * - `backend`: a tenant backend's API key, or the operator token naming the tenant in the
 *   `tenant_id` query parameter (diagnostics both may read: delivery log, audit log);
 * - `none`: public (health, metrics, token refresh, dev tokens).
 */
export type AuthMode = 'user' | 'apiKey' | 'admin' | 'backend' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
  }
  interface FastifyRequest {
    principal: Principal | null;
    apiKey: { tenant_id: string; key_id: string } | null;
    /** A `backend` route called with the operator token. */
    operator: boolean;
  }
}

/** The part of the Herald host the API uses. */
export interface ApiHost {
  config: Config;
  db: Db;
  deps: DomainDeps;
  log: Logger;
  auth: Auth;
  metrics: Registry;
  /** Whether the shared infrastructure (Redis, when used) answers; /readyz reports it. */
  infraHealthy?: () => boolean;
  /** Spans for OpenTelemetry export (off: noTracing). */
  tracing?: Tracing;
  /** Draining or closing (SIGTERM): /readyz answers 503 with its reason. */
  lifecycle?: Lifecycle;
  /** Where webhooks may point (SSRF rule); the host shares its dispatcher's. */
  webhookPolicy?: AddressPolicy;
  /** Offline push (devices routes); absent in apps built without a host. */
  push?: Push;
}

export interface Limiters {
  /** Shared with the gateway's `send` frames (see SendLimiter). */
  send: SendLimiter;
  apiKey: ApiKeyLimiter;
}

/** What each route plugin under routes/ is registered with. */
export interface RouteDeps {
  host: ApiHost;
  limiters: Limiters;
}

/** The trace of a request (a traceparent), passed to the domain so outbox rows carry it. */
export function traceOf(req: FastifyRequest): string {
  return req.traceparent || req.id;
}

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Authenticates per the route's `auth` config. Register once, on the root. */
export function installAuth(app: App, host: ApiHost, limiters: Limiters): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('apiKey', null);
  app.decorateRequest('operator', false);
  app.addHook('onRequest', async (req) => {
    const mode = req.routeOptions.config?.auth ?? 'none';
    if (mode === 'none') return;
    const token = bearer(req.headers.authorization);
    if (mode === 'user') {
      req.principal = await host.auth.authenticate(token);
    } else if (mode === 'apiKey' || (mode === 'backend' && !host.auth.isAdmin(token))) {
      req.apiKey = await host.auth.tenantOfApiKey(token);
      await limiters.apiKey.take(req.apiKey.tenant_id, req.apiKey.key_id);
    } else if (mode === 'backend') {
      req.operator = true;
    } else {
      host.auth.checkAdmin(token);
    }
  });
}

/** The authenticated user of a `user` route, as the use cases take it. */
export function callerOf(req: FastifyRequest): Caller {
  const p = principalOf(req);
  return { tenant: p.tenant_id, user: p.user_id, trace: traceOf(req) };
}

/** The authenticated user of a `user` route. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new HeraldError('UNAUTHENTICATED');
  return req.principal;
}

/**
 * The tenant of a `backend` route: the API key's, or for the operator the `tenant_id` query
 * parameter (required). An API key naming another tenant there is FORBIDDEN.
 */
export function backendTenantOf(req: FastifyRequest): string {
  const named = (req.query as { tenant_id?: unknown } | undefined)?.tenant_id;
  if (req.operator) {
    if (typeof named !== 'string' || named === '')
      throw new HeraldError('VALIDATION_FAILED', 'The operator token needs the tenant_id query parameter.');
    return named;
  }
  const tenant = apiTenantOf(req);
  if (named !== undefined && named !== tenant)
    throw new HeraldError('FORBIDDEN', 'An API key acts in its own tenant only.');
  return tenant;
}

/** The audit actor of an `apiKey` (or `backend`) route: the key, or the operator. */
export function keyActor(req: FastifyRequest): AuditActor {
  if (req.operator) return { type: 'operator' };
  if (!req.apiKey) throw new HeraldError('UNAUTHENTICATED');
  return { type: 'api_key', id: req.apiKey.key_id };
}

/** The tenant of an `apiKey` route. */
export function apiTenantOf(req: FastifyRequest): string {
  if (!req.apiKey) throw new HeraldError('UNAUTHENTICATED');
  return req.apiKey.tenant_id;
}
