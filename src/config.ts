// Configuration: read once from the environment at start-up, validated, with
// documented defaults. Nothing else in Herald reads process.env.
import { defaultLimits, type Limits } from './domain/limits.ts';

export interface Config {
  port: number;
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
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, schemes: string[]): string | null {
  const raw = env[name];
  if (!raw) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a URL`);
  }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(`${name} must use ${schemes.join(' or ')}`);
  return raw;
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const embedded = databaseUrl === null;
  const port = int(env, 'PORT', 8080);
  if (port > 65535) throw new ConfigError('PORT must be at most 65535');
  return {
    port,
    host: env.HOST || '0.0.0.0',
    dataDir: env.HERALD_DATA_DIR || './.herald',
    databaseUrl,
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    adminToken: env.HERALD_ADMIN_TOKEN || null,
    jwtSecret: env.HERALD_JWT_SECRET || null,
    accessTokenTtlSec: int(env, 'HERALD_ACCESS_TTL_SEC', 900, 1),
    refreshTokenTtlSec: int(env, 'HERALD_REFRESH_TTL_SEC', 30 * 24 * 3600, 1),
    demo: bool(env, 'HERALD_DEMO', embedded && !production),
    devTokens: bool(env, 'HERALD_DEV_TOKENS', embedded && !production),
    production,
    logLevel: env.LOG_LEVEL || 'info',
    relayPollMs: int(env, 'HERALD_RELAY_POLL_MS', 1000, 10),
    limits: {
      maxBodyBytes: int(env, 'HERALD_MAX_BODY_BYTES', defaultLimits.maxBodyBytes, 1),
      maxMentions: int(env, 'HERALD_MAX_MENTIONS', defaultLimits.maxMentions),
      maxAttachments: int(env, 'HERALD_MAX_ATTACHMENTS', defaultLimits.maxAttachments),
      maxMembersPerCall: int(env, 'HERALD_MAX_MEMBERS_PER_CALL', defaultLimits.maxMembersPerCall, 1),
      largeChannelThreshold: int(env, 'HERALD_LARGE_CHANNEL_THRESHOLD', defaultLimits.largeChannelThreshold, 1),
      replayLimit: int(env, 'HERALD_REPLAY_LIMIT', defaultLimits.replayLimit, 1),
    },
  };
}
