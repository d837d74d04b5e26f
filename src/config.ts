// Configuration: read once from the environment at start-up, validated, with
// documented defaults. Nothing else in Herald reads process.env.
import { bool, ConfigError, type Env, int, url } from './config/env.ts';
import { type PushConfig, push } from './config/push.ts';
import { defaultLimits, type Limits } from './domain/limits.ts';

export { ConfigError } from './config/env.ts';
export type { ApnsConfig, FcmConfig, PushConfig } from './config/push.ts';

/** What a node runs (HERALD_ROLES / --roles); every role by default. */
export const ROLES = ['api', 'gateway', 'relay'] as const;
export type Role = (typeof ROLES)[number];
export type Roles = Record<Role, boolean>;

export interface Config {
  port: number;
  /**
   * api: the HTTP API routes; gateway: WebSocket upgrades and SSE; relay: the outbox relay
   * (the host-level loop). /healthz, /readyz and /metrics are served whatever the roles.
   */
  roles: Roles;
  host: string;
  /** Embedded store and generated secrets live here. */
  dataDir: string;
  /** PostgreSQL server; unset → embedded PGlite in dataDir. */
  databaseUrl: string | null;
  /** Redis; unset → in-process bus and registries. */
  redisUrl: string | null;
  /** Operator token for /v1/tenants and other operator calls. */
  adminToken: string | null;
  /** HS256 secret for access tokens; generated and kept in dataDir when unset. */
  jwtSecret: string | null;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  /** Create the demo tenant and serve the demo page. */
  demo: boolean;
  /** Dev-only token endpoint for the demo tenant. */
  devTokens: boolean;
  production: boolean;
  logLevel: string;
  limits: Limits;
  relayPollMs: number;
  /** Prepended to every Redis key and channel (several deployments on one Redis, tests). */
  redisPrefix: string;
  gateway: {
    /** Server ping interval; the connection registry TTL is three of these. */
    pingIntervalMs: number;
    /** A device is present while its last heartbeat is this recent. */
    presenceWindowMs: number;
    /** How long drain waits for clients before closing them. */
    drainGraceMs: number;
    /** WebSocket handshakes per client IP: rate per second and burst (raise behind a proxy or NAT). */
    handshakesPerIp: { perSec: number; burst: number };
    /** WebSocket and SSE handshakes per tenant user: rate per second and burst. */
    handshakesPerUser: { perSec: number; burst: number };
    /** Concurrent sockets (WebSocket + SSE) per user; 0 = no cap. Cluster-wide with Redis. */
    maxSocketsPerUser: number;
    /** Concurrent sockets per tenant; 0 = no cap. Cluster-wide with Redis. */
    maxSocketsPerTenant: number;
  };
  http: HttpConfig;
  webhooks: WebhookConfig;
  push: PushConfig;
  /** Verification of the host application's own JWTs (instead of, or besides, Herald's). */
  hostJwt: HostJwtConfig | null;
  /** OpenTelemetry span export; null (the default) when no OTLP endpoint is set. */
  tracing: TracingConfig | null;
}

/** OTLP/HTTP trace export (docs/observability.md), read from the standard OTEL_* variables. */
export interface TracingConfig {
  /** The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
  endpoint: string;
  /** OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`), e.g. an API key of the collector. */
  headers: Record<string, string>;
  /** OTEL_SERVICE_NAME (default `herald`). */
  serviceName: string;
  /** OTEL_BSP_SCHEDULE_DELAY: how long spans are batched before export (ms, default 5000). */
  exportDelayMs: number;
}

export interface HttpConfig {
  /** Largest accepted request body (bytes); larger → 413 PAYLOAD_TOO_LARGE. */
  bodyLimitBytes: number;
  /** Message sends per user per window (HTTP); over it → 429 RATE_LIMITED, nothing written. */
  sendRate: RateLimit;
  /** Calls per API key per window (token exchange, notices). */
  apiKeyRate: RateLimit;
}

/** Outbound webhooks (docs/webhooks.md). */
export interface WebhookConfig {
  /** Hosts (exact names) and IPs/CIDRs webhooks may reach despite the private-address rule. */
  allowHosts: string[];
  /** How long a delivery is retried before it is dead-lettered (s). */
  retryWindowSec: number;
  /** First retry delay cap (ms); doubles per attempt up to retryMaxMs, full jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Per-attempt timeout (ms), connection to last response byte. */
  timeoutMs: number;
  /** Polling fallback of the dispatcher when no NOTIFY arrives (ms). */
  pollMs: number;
  /** Delivered and dead deliveries older than this leave the log (s); replay reaches this far. */
  logRetentionSec: number;
}

export interface RateLimit {
  max: number;
  windowSec: number;
}

/**
 * Host-issued JWTs: HS256 with a shared secret, or any asymmetric algorithm
 * from a JWKS URL. Claims: `sub` is the user id; `tenantClaim` (default
 * `tenant_id`) names the active tenant; an optional `tenants` array lists the
 * tenants the user may switch to; `exp` is required.
 */
export interface HostJwtConfig {
  secret: string | null;
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
  tenantClaim: string;
}

/**
 * "api,gateway,relay" or any non-empty subset, comma-separated; `all` is every role.
 * `source` names the setting in errors (HERALD_ROLES, or --roles from the command line).
 */
export function parseRoles(raw: string | undefined, source = 'HERALD_ROLES'): Roles {
  const all: Roles = { api: true, gateway: true, relay: true };
  // An empty HERALD_ROLES is unset; an empty --roles is a mistake.
  if (raw === undefined || raw.trim() === 'all' || (raw.trim() === '' && source === 'HERALD_ROLES'))
    return all;
  const roles: Roles = { api: false, gateway: false, relay: false };
  for (const part of raw.split(',')) {
    const role = part.trim();
    if (!(ROLES as readonly string[]).includes(role))
      throw new ConfigError(
        `${source} must list roles from ${ROLES.join(', ')} (comma-separated) or be "all", got "${raw}"`,
      );
    roles[role as Role] = true;
  }
  return roles;
}

function hostJwt(env: Env): HostJwtConfig | null {
  const secret = env.HERALD_HOST_JWT_SECRET || null;
  const jwksUrl = url(env, 'HERALD_HOST_JWKS_URL', ['https:', 'http:']);
  if (!secret && !jwksUrl) return null;
  if (secret && jwksUrl)
    throw new ConfigError('Set HERALD_HOST_JWT_SECRET or HERALD_HOST_JWKS_URL, not both');
  if (secret && secret.length < 32)
    throw new ConfigError('HERALD_HOST_JWT_SECRET must be at least 32 characters');
  return {
    secret,
    jwksUrl,
    issuer: env.HERALD_HOST_JWT_ISSUER || null,
    audience: env.HERALD_HOST_JWT_AUDIENCE || null,
    tenantClaim: env.HERALD_HOST_JWT_TENANT_CLAIM || 'tenant_id',
  };
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const embedded = databaseUrl === null;
  const port = int(env, 'PORT', 8080);
  const jwtSecret = env.HERALD_JWT_SECRET || null;
  if (jwtSecret && jwtSecret.length < 32)
    throw new ConfigError('HERALD_JWT_SECRET must be at least 32 characters');
  if (port > 65535) throw new ConfigError('PORT must be at most 65535');
  return {
    port,
    roles: parseRoles(env.HERALD_ROLES),
    host: env.HOST || '0.0.0.0',
    dataDir: env.HERALD_DATA_DIR || './.herald',
    databaseUrl,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    adminToken: env.HERALD_ADMIN_TOKEN || null,
    jwtSecret,
    accessTokenTtlSec: int(env, 'HERALD_ACCESS_TTL_SEC', 900, 1),
    refreshTokenTtlSec: int(env, 'HERALD_REFRESH_TTL_SEC', 30 * 24 * 3600, 1),
    demo: bool(env, 'HERALD_DEMO', embedded && !production),
    devTokens: bool(env, 'HERALD_DEV_TOKENS', embedded && !production),
    production,
    logLevel: env.LOG_LEVEL || 'info',
    relayPollMs: int(env, 'HERALD_RELAY_POLL_MS', 1000, 10),
    redisPrefix: env.HERALD_REDIS_PREFIX ?? '',
    gateway: {
      pingIntervalMs: int(env, 'HERALD_PING_INTERVAL_MS', 25_000, 100),
      presenceWindowMs: int(env, 'HERALD_PRESENCE_WINDOW_MS', 90_000, 100),
      drainGraceMs: int(env, 'HERALD_DRAIN_GRACE_MS', 10_000, 0),
      handshakesPerIp: {
        perSec: int(env, 'HERALD_HANDSHAKES_PER_IP_PER_SEC', 10, 1),
        burst: int(env, 'HERALD_HANDSHAKE_BURST_PER_IP', 50, 1),
      },
      handshakesPerUser: {
        perSec: int(env, 'HERALD_HANDSHAKES_PER_USER_PER_SEC', 1, 1),
        burst: int(env, 'HERALD_HANDSHAKE_BURST_PER_USER', 20, 1),
      },
      maxSocketsPerUser: int(env, 'HERALD_MAX_SOCKETS_PER_USER', 20),
      maxSocketsPerTenant: int(env, 'HERALD_MAX_SOCKETS_PER_TENANT', 0),
    },
    http: {
      bodyLimitBytes: int(env, 'HERALD_HTTP_BODY_LIMIT', 256 * 1024, 1024),
      sendRate: {
        max: int(env, 'HERALD_SEND_RATE_MAX', 20, 1),
        windowSec: int(env, 'HERALD_SEND_RATE_WINDOW_SEC', 1, 1),
      },
      apiKeyRate: {
        max: int(env, 'HERALD_API_KEY_RATE_MAX', 100, 1),
        windowSec: int(env, 'HERALD_API_KEY_RATE_WINDOW_SEC', 1, 1),
      },
    },
    hostJwt: hostJwt(env),
    tracing: tracing(env),
    webhooks: {
      allowHosts: (env.HERALD_WEBHOOK_ALLOW_HOSTS ?? '')
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      retryWindowSec: int(env, 'HERALD_WEBHOOK_RETRY_WINDOW_SEC', 3 * 24 * 3600, 1),
      retryBaseMs: int(env, 'HERALD_WEBHOOK_RETRY_BASE_MS', 1000, 1),
      retryMaxMs: int(env, 'HERALD_WEBHOOK_RETRY_MAX_MS', 3_600_000, 1),
      timeoutMs: int(env, 'HERALD_WEBHOOK_TIMEOUT_MS', 10_000, 10),
      pollMs: int(env, 'HERALD_WEBHOOK_POLL_MS', 1000, 10),
      logRetentionSec: int(env, 'HERALD_WEBHOOK_LOG_RETENTION_SEC', 30 * 24 * 3600, 60),
    },
    push: push(env),
    limits: {
      maxBodyBytes: int(env, 'HERALD_MAX_BODY_BYTES', defaultLimits.maxBodyBytes, 1),
      maxMentions: int(env, 'HERALD_MAX_MENTIONS', defaultLimits.maxMentions),
      maxAttachments: int(env, 'HERALD_MAX_ATTACHMENTS', defaultLimits.maxAttachments),
      maxMembersPerCall: int(env, 'HERALD_MAX_MEMBERS_PER_CALL', defaultLimits.maxMembersPerCall, 1),
      largeChannelThreshold: int(
        env,
        'HERALD_LARGE_CHANNEL_THRESHOLD',
        defaultLimits.largeChannelThreshold,
        1,
      ),
      replayLimit: int(env, 'HERALD_REPLAY_LIMIT', defaultLimits.replayLimit, 1),
      receiptDetailMax: int(env, 'HERALD_RECEIPT_DETAIL_MAX', defaultLimits.receiptDetailMax, 0),
    },
  };
}

function tracing(env: Env): TracingConfig | null {
  if (bool(env, 'OTEL_SDK_DISABLED', false)) return null;
  const traces = url(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']);
  const base = url(env, 'OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
  if (!traces && !base) return null;
  const headers: Record<string, string> = {};
  for (const pair of (env.OTEL_EXPORTER_OTLP_HEADERS ?? '').split(',')) {
    if (!pair.trim()) continue;
    const at = pair.indexOf('=');
    if (at <= 0)
      throw new ConfigError(
        `OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas, got "${pair}"`,
      );
    headers[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return {
    endpoint: traces ?? `${(base as string).replace(/\/+$/, '')}/v1/traces`,
    headers,
    serviceName: env.OTEL_SERVICE_NAME || 'herald',
    exportDelayMs: int(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 1),
  };
}
